package eddy.differential;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Aggregator;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Initializer;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Merger;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.ValueJoiner;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.SessionStore;

/**
 * The Kafka Streams topology of each scenario operator. Every function here has its twin in
 * tests/differential/topologies.ts (eddy's side); keep them in step. Conventions: stream values are
 * {@code {"i": input index, "v": int, "ref": table key or null, "g": group}}; aggregates are
 * {@code {"count", "sum", "last"}} (last = the {@code i} of the last record folded in); windowed results are keyed by
 * the group key with value {@code {"start", "end", "count", "sum", "last"}}; joins give {@code {"l", "r"}} (the
 * {@code i} of each side, null when missing). Inputs: streams {@code in}, {@code in2}; tables {@code tin},
 * {@code tin2}; the global table {@code table} (value {@code {"t": string}}). Output: {@code out}.
 */
final class Scenarios {
  private Scenarios() {}

  private static final JsonSerde J = new JsonSerde();

  static ObjectNode obj() {
    return Main.JSON.createObjectNode();
  }

  static ObjectNode agg(long count, long sum, long last) {
    ObjectNode a = obj();
    a.put("count", count);
    a.put("sum", sum);
    a.put("last", last);
    return a;
  }

  static final Initializer<JsonNode> INIT = () -> agg(0, 0, -1);
  static final Aggregator<String, JsonNode, JsonNode> ADD =
      (k, v, a) -> agg(a.get("count").asLong() + 1, a.get("sum").asLong() + v.get("v").asLong(), v.get("i").asLong());
  static final Merger<String, JsonNode> MERGE = (k, a, b) -> agg(
      a.get("count").asLong() + b.get("count").asLong(),
      a.get("sum").asLong() + b.get("sum").asLong(),
      Math.max(a.get("last").asLong(), b.get("last").asLong()));

  static JsonNode windowed(Windowed<String> w, JsonNode a) {
    ObjectNode o = obj();
    o.put("start", w.window().start());
    o.put("end", w.window().end());
    o.setAll((ObjectNode) a);
    return o;
  }

  static JsonNode pair(JsonNode l, JsonNode r) {
    ObjectNode o = obj();
    if (l == null) o.putNull("l");
    else o.set("l", l.get("i"));
    if (r == null) o.putNull("r");
    else o.set("r", r.get("i"));
    return o;
  }

  static final ValueJoiner<JsonNode, JsonNode, JsonNode> PAIR = Scenarios::pair;

  static Topology build(String op, JsonNode p) {
    StreamsBuilder b = new StreamsBuilder();
    KStream<String, JsonNode> in = b.stream("in");
    switch (op) {
      case "filter-map" -> in.filter((k, v) -> v.get("v").asLong() % 3 != 0)
          .map((k, v) -> {
            ObjectNode o = obj();
            o.set("i", v.get("i"));
            o.put("v", v.get("v").asLong() * 2);
            return KeyValue.pair(k == null ? null : k + "-m", (JsonNode) o);
          })
          .mapValues(v -> (JsonNode) ((ObjectNode) v.deepCopy()).put("v", v.get("v").asLong() + 1))
          .to("out");
      case "aggregate" -> in.groupByKey().aggregate(INIT, ADD, Materialized.with(Serdes.String(), J)).toStream().to("out");
      case "count" -> in.groupByKey().count().toStream().mapValues(c -> (JsonNode) Main.JSON.valueToTree(c)).to("out");
      case "reduce" -> in.groupByKey()
          .reduce((a, v) -> obj().put("i", v.get("i").asLong()).put("v", a.get("v").asLong() + v.get("v").asLong()),
              Materialized.with(Serdes.String(), J))
          // the first value of a key is the aggregate as it came (no reducer call): keep the fields both sides have
          .toStream()
          .mapValues(v -> (JsonNode) obj().put("i", v.get("i").asLong()).put("v", v.get("v").asLong()))
          .to("out");
      case "window" -> {
        TimeWindows w = TimeWindows.ofSizeAndGrace(ms(p, "sizeMs"), ms(p, "graceMs")).advanceBy(ms(p, "advanceMs"));
        windowedOut(p, in.groupByKey().windowedBy(w));
      }
      case "window-count" -> {
        TimeWindows w = TimeWindows.ofSizeAndGrace(ms(p, "sizeMs"), ms(p, "graceMs")).advanceBy(ms(p, "advanceMs"));
        var ws = in.groupByKey().windowedBy(w);
        if (p.get("emit").asText().equals("final")) ws = ws.emitStrategy(EmitStrategy.onWindowClose());
        ws.count().toStream()
            .map((wk, c) -> KeyValue.pair(wk.key(), windowed(wk, obj().put("count", c))))
            .to("out");
      }
      case "session" -> {
        SessionWindows w = SessionWindows.ofInactivityGapAndGrace(ms(p, "gapMs"), ms(p, "graceMs"));
        var ws = in.groupByKey().windowedBy(w);
        boolean fin = p.get("emit").asText().equals("final");
        if (fin) ws = ws.emitStrategy(EmitStrategy.onWindowClose());
        KTable<Windowed<String>, JsonNode> t = ws.aggregate(INIT, ADD, MERGE, Materialized
            .<String, JsonNode, SessionStore<Bytes, byte[]>>with(Serdes.String(), J)
            // a retention past the input's span: with the default (gap + grace) Kafka Streams 3.9 loses sessions
            // whose segment expires in the step that closes them (see issue 17)
            .withRetention(Duration.ofDays(365)));
        t.toStream()
            .map((wk, a) -> KeyValue.pair(wk.key(), a == null ? tomb(wk) : windowed(wk, a)))
            .to("out");
      }
      case "sliding" -> {
        SlidingWindows w = SlidingWindows.ofTimeDifferenceAndGrace(ms(p, "timeDifferenceMs"), ms(p, "graceMs"));
        var ws = in.groupByKey().windowedBy(w);
        if (p.get("emit").asText().equals("final")) ws = ws.emitStrategy(EmitStrategy.onWindowClose());
        ws.aggregate(INIT, ADD, Materialized.with(Serdes.String(), J)).toStream()
            .map((wk, a) -> KeyValue.pair(wk.key(), windowed(wk, a)))
            .to("out");
      }
      case "global-join" -> {
        GlobalKTable<String, JsonNode> g = b.globalTable("table");
        boolean left = p.get("kind").asText().equals("left");
        ValueJoiner<JsonNode, JsonNode, JsonNode> joiner = (v, tv) -> {
          ObjectNode o = obj();
          o.set("i", v.get("i"));
          o.set("v", v.get("v"));
          if (tv == null) o.putNull("t");
          else o.set("t", tv.get("t"));
          return o;
        };
        (left ? in.leftJoin(g, (k, v) -> refOf(v), joiner) : in.join(g, (k, v) -> refOf(v), joiner)).to("out");
      }
      case "stream-join" -> {
        KStream<String, JsonNode> in2 = b.stream("in2");
        JoinWindows w = JoinWindows.ofTimeDifferenceAndGrace(ms(p, "beforeMs"), ms(p, "graceMs"))
            .before(Duration.ofMillis(p.get("beforeMs").asLong()))
            .after(Duration.ofMillis(p.get("afterMs").asLong()));
        StreamJoined<String, JsonNode, JsonNode> sj = StreamJoined.with(Serdes.String(), J, J);
        (switch (p.get("kind").asText()) {
          case "inner" -> in.join(in2, PAIR, w, sj);
          case "left" -> in.leftJoin(in2, PAIR, w, sj);
          default -> in.outerJoin(in2, PAIR, w, sj);
        }).to("out");
      }
      case "table" -> b.table("tin", Materialized.with(Serdes.String(), J)).toStream().to("out");
      case "table-filter-map" -> b.table("tin", Materialized.with(Serdes.String(), J))
          .filter((k, v) -> v.get("v").asLong() % 3 != 0)
          .mapValues(v -> (JsonNode) obj().put("i", v.get("i").asLong()).put("v", v.get("v").asLong() * 2))
          .toStream().to("out");
      case "table-join" -> {
        KTable<String, JsonNode> l = b.table("tin", Materialized.with(Serdes.String(), J));
        KTable<String, JsonNode> r = b.table("tin2", Materialized.with(Serdes.String(), J));
        (switch (p.get("kind").asText()) {
          case "inner" -> l.join(r, PAIR);
          case "left" -> l.leftJoin(r, PAIR);
          default -> l.outerJoin(r, PAIR);
        }).toStream().to("out");
      }
      case "stream-table-join" -> {
        KTable<String, JsonNode> t = b.table("tin", Materialized.with(Serdes.String(), J));
        (p.get("kind").asText().equals("left") ? in.leftJoin(t, PAIR) : in.join(t, PAIR)).to("out");
      }
      case "merge" -> in.merge(b.stream("in2"))
          .mapValues(v -> (JsonNode) obj().put("i", v.get("i").asLong()).put("v", v.get("v").asLong()))
          .to("out");
      case "table-groupby" -> b.table("tin", Materialized.with(Serdes.String(), J))
          .groupBy((k, v) -> KeyValue.pair(v.get("g").asText(), v), Grouped.with(Serdes.String(), J))
          .aggregate(INIT, ADD,
              (k, v, a) -> agg(a.get("count").asLong() - 1, a.get("sum").asLong() - v.get("v").asLong(), v.get("i").asLong()),
              Materialized.with(Serdes.String(), J))
          .toStream().to("out");
      default -> throw new IllegalArgumentException("unknown scenario operator " + op);
    }
    return b.build();
  }

  /** Windowed aggregate; emit "final" (suppress untilWindowCloses), "close" (onWindowClose) or "update". */
  private static void windowedOut(JsonNode p, TimeWindowedKStream<String, JsonNode> ws) {
    String emit = p.get("emit").asText();
    if (emit.equals("close")) ws = ws.emitStrategy(EmitStrategy.onWindowClose());
    KTable<Windowed<String>, JsonNode> t = ws.aggregate(INIT, ADD, Materialized.with(Serdes.String(), J));
    if (emit.equals("final")) t = t.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()));
    t.toStream().map((wk, a) -> KeyValue.pair(wk.key(), windowed(wk, a))).to("out");
  }

  private static JsonNode tomb(Windowed<String> w) {
    ObjectNode o = obj();
    o.put("start", w.window().start());
    o.put("end", w.window().end());
    o.putNull("count");
    return o;
  }

  private static String refOf(JsonNode v) {
    JsonNode r = v.get("ref");
    return r == null || r.isNull() ? null : r.asText();
  }

  private static Duration ms(JsonNode p, String name) {
    JsonNode n = p.get(name);
    if (n == null) throw new IllegalArgumentException("missing parameter " + name);
    return Duration.ofMillis(n.asLong());
  }
}
