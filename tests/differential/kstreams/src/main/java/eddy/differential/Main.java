package eddy.differential;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;

/**
 * Runs scenarios through Kafka Streams' own TopologyTestDriver, all in this one JVM.
 *
 * <p>Usage: {@code java -cp ... eddy.differential.Main scenarios.json results.json}. The input is
 * {@code {"scenarios": [{"name", "op", "params": {...}, "input": [{"topic", "key", "value", "ts"}, ...]}]}}: keys
 * are strings or null, values JSON or null (a tombstone), ts ms since epoch. Each scenario gets a fresh driver and
 * topology ({@link Scenarios#build}); its records are piped one at a time in the given order, and after each one the
 * output topic {@code out} is read. The result is {@code {"<name>": {"outputs": [{"topic", "key", "value", "ts",
 * "after"}]}}} with {@code after} the index of the input record whose piping produced the output, or
 * {@code {"<name>": {"error": "..."}}} when Kafka Streams refused the topology or threw.
 *
 * <p>Keys use Kafka's String serde, values a JSON serde: the wire format is not what the comparison is about.
 * Configuration is Kafka Streams' default (record cache on: the driver commits after every record, so each update
 * of a table is forwarded), with the KIP-825 emit throttle of onWindowClose set to 0 so that windows closed by a
 * record are emitted by that record, as with suppress. The state directory is the system property
 * {@code differential.state.dir} (default: java.io.tmpdir).
 */
public final class Main {
  static final ObjectMapper JSON = new ObjectMapper();

  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: Main <scenarios.json> <results.json>");
      System.exit(2);
    }
    JsonNode root = JSON.readTree(new File(args[0]));
    ObjectNode results = JSON.createObjectNode();
    for (JsonNode sc : root.get("scenarios")) {
      String name = sc.get("name").asText();
      ObjectNode r = JSON.createObjectNode();
      try {
        r.set("outputs", run(sc));
      } catch (Exception | AssertionError e) {
        StringWriter w = new StringWriter();
        e.printStackTrace(new PrintWriter(w));
        r.put("error", w.toString());
      }
      results.set(name, r);
    }
    JSON.writeValue(new File(args[1]), results);
  }

  static ArrayNode run(JsonNode sc) {
    Topology topology = Scenarios.build(sc.get("op").asText(), sc.get("params"));
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "differential-" + sc.get("name").asText().replaceAll("[^A-Za-z0-9._-]", "_"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, JsonSerde.class);
    props.put(StreamsConfig.InternalConfig.EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION, 0L);
    // likewise the wall-clock throttle of left/outer stream-stream joins' unmatched results (KIP-633's fix of
    // spurious results): the driver's wall clock stands still, so with the default (1 s) when they come out would
    // depend on it, not on stream time
    props.put(StreamsConfig.InternalConfig.EMIT_INTERVAL_MS_KSTREAMS_OUTER_JOIN_SPURIOUS_RESULTS_FIX, 0L);
    // RocksDB stores (Kafka Streams' default) flush on every commit, and the driver commits after every record: a
    // state dir in memory (the test passes one under /dev/shm where there is one) keeps that off the disk
    props.put(StreamsConfig.STATE_DIR_CONFIG, System.getProperty("differential.state.dir", System.getProperty("java.io.tmpdir") + "/kafka-streams-differential"));
    ArrayNode out = JSON.createArrayNode();
    try (TopologyTestDriver driver = new TopologyTestDriver(topology, props, Instant.ofEpochMilli(0))) {
      Map<String, TestInputTopic<String, JsonNode>> inputs = new HashMap<>();
      TestOutputTopic<String, JsonNode> output =
          driver.createOutputTopic("out", new StringDeserializer(), new JsonSerde().deserializer());
      int i = 0;
      for (JsonNode rec : sc.get("input")) {
        String topic = rec.get("topic").asText();
        TestInputTopic<String, JsonNode> in = inputs.computeIfAbsent(
            topic, t -> driver.createInputTopic(t, new StringSerializer(), new JsonSerde().serializer()));
        String key = rec.get("key").isNull() ? null : rec.get("key").asText();
        JsonNode value = rec.get("value").isNull() ? null : rec.get("value");
        in.pipeInput(key, value, rec.get("ts").asLong());
        for (TestRecord<String, JsonNode> o : output.readRecordsToList()) {
          ObjectNode x = out.addObject();
          x.put("topic", "out");
          if (o.key() == null) x.putNull("key");
          else x.put("key", o.key());
          x.set("value", o.value() == null ? JSON.nullNode() : o.value());
          x.put("ts", o.timestamp());
          x.put("after", i);
        }
        i++;
      }
    }
    return out;
  }
}
