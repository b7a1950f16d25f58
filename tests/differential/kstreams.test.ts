/**
 * Differential test against Kafka Streams itself (issue 17, "Semantics: Kafka Streams' exactly"): the same generated
 * streams through Kafka Streams 3.9.1's `TopologyTestDriver` (tests/differential/kstreams, built with Maven, one JVM
 * for all scenarios) and eddy's, compared record by record: key, value, timestamp and order, and which input record
 * produced each output. Order inside a burst (the outputs of one input record: several windows closed by one record)
 * is not defined by Kafka Streams: there each side is checked against its own rule (window start, then the key's
 * serialized bytes) and the bursts are compared as sorted.
 *
 * Known differences (issue 17) are applied to Kafka Streams' outputs before comparing, each as the exact difference,
 * so that the test fails when one changes (then set its flag in KNOWN to false). Seed: EDDY_DIFF_SEED (default 17).
 * Needs Java 17+ and Maven (fails without them, never skips).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  avroString,
  byStartThenKeyBytes,
  type DeadLetter,
  firstDifference,
  outOfOrder,
  runEddy,
  sortBursts,
} from './compare.js';
import {
  buildKStreamsSide,
  type KStreamsResults,
  type OutputRecord,
  runKStreams,
  type Scenario,
} from './kstreams-runner.js';
import { comingScenarios, coreScenarios } from './scenarios.js';
import { build, missing } from './topologies.js';

const SEED = Number(process.env.EDDY_DIFF_SEED ?? 17);

/**
 * Differences between eddy and Kafka Streams 3.9.1 that eddy has today (issue 17), each asserted exactly.
 * - windowTimestamp: a window's final result is stamped `window end - 1` by eddy; Kafka Streams gives it the largest
 *   timestamp of the records in the window.
 * - aggregateTimestamp: a non-windowed aggregate's update is stamped with the record just folded in by eddy; Kafka
 *   Streams keeps the largest timestamp of the key so far.
 * - nullKey: eddy dead-letters a record with a null key when it reads it ("the record has no key"); Kafka Streams
 *   passes it through stateless operators (filter, map, mapValues) and joins it with a global table when the mapped
 *   key is found (KIP-962); aggregations drop it on both sides.
 * - nullMappedKey (not in issue 17's list; found by this test): a stream record whose global-table key mapper returns
 *   null is dead-lettered by eddy as a processing error (the null table key cannot be serialized to look it up);
 *   Kafka Streams drops it, in `join` and in `leftJoin` alike (only its dropped-records metric counts it). The outputs
 *   agree; eddy's dead letter and its reason are the difference.
 * - avroKeyOrder: several windows closed by one record come out of eddy by window start, then the Avro-encoded key
 *   (length-prefixed: `k3` before `k11`); Kafka Streams' order is window end, then the serialized key's bytes (its
 *   String serde here: `k11` before `k3`). Neither is documented: while the rules differ, bursts are compared sorted;
 *   once eddy orders by the key's UTF-8 bytes too, bursts are compared in order.
 */
const KNOWN = {
  windowTimestamp: false,
  aggregateTimestamp: false,
  nullKey: false,
  nullMappedKey: false,
  avroKeyOrder: false,
};

/** What a windowed result's key bytes are on each side: Avro (eddy's schemas) and Kafka's String serde (the Java side). */
const KSTREAMS_ORDER = byStartThenKeyBytes((k) => Buffer.from(k, 'utf8'));
const EDDY_ORDER = KNOWN.avroKeyOrder ? byStartThenKeyBytes(avroString) : KSTREAMS_ORDER;

/** EDDY_DIFF_ONLY: a regular expression; only the scenarios whose name matches run (to reproduce one quickly). */
const only = new RegExp(process.env.EDDY_DIFF_ONLY ?? '');
const core = coreScenarios(SEED).filter((s) => only.test(s.name));
const coming = comingScenarios(SEED).filter((s) => only.test(s.name));
let ks: KStreamsResults | Error;

beforeAll(() => {
  // kept, not thrown: every test then fails with it (a failed hook would only mark them skipped)
  try {
    ks = runKStreams(buildKStreamsSide(), [...core, ...coming]);
  } catch (err) {
    ks = err instanceof Error ? err : new Error(String(err));
  }
}, 900_000);

/** Kafka Streams' outputs for a scenario; throws with its stack trace when it failed. */
function kstreamsOutputs(sc: Scenario): OutputRecord[] {
  if (ks instanceof Error) throw ks;
  const r = ks[sc.name];
  if (r === undefined) throw new Error(`Kafka Streams gave no result for scenario ${sc.name}`);
  if (r.error !== undefined) throw new Error(`Kafka Streams failed on scenario ${sc.name}:\n${r.error}`);
  return r.outputs!;
}

interface Applied {
  expected: OutputRecord[];
  /** How many Kafka Streams outputs each known difference changed or removed. */
  counts: Record<string, number>;
}

/** Kafka Streams' outputs with the known differences applied: what eddy must give today. */
function withKnownDifferences(sc: Scenario, outputs: readonly OutputRecord[], known: typeof KNOWN): Applied {
  const counts: Record<string, number> = { windowTimestamp: 0, aggregateTimestamp: 0, nullKey: 0 };
  const final = sc.op === 'window' && sc.params.emit !== 'update';
  const expected: OutputRecord[] = [];
  for (const o of outputs) {
    if (known.nullKey && sc.input[o.after].key === null) {
      counts.nullKey++;
      continue;
    }
    let ts = o.ts;
    if (known.windowTimestamp && final) ts = (o.value as { end: number }).end - 1;
    if (known.aggregateTimestamp && sc.op === 'aggregate') ts = sc.input[o.after].ts;
    if (ts !== o.ts) counts[sc.op === 'aggregate' ? 'aggregateTimestamp' : 'windowTimestamp']++;
    expected.push({ ...o, ts });
  }
  return { expected, counts };
}

const windowedOp = (sc: Scenario) => ['window', 'window-count', 'session', 'sliding'].includes(sc.op);

/** Runs eddy on a scenario and checks it against Kafka Streams; returns a one-line summary. */
async function check(sc: Scenario): Promise<string> {
  const theirs = kstreamsOutputs(sc);
  const { outputs: ours, dead } = await runEddy(sc);
  const applied = withKnownDifferences(sc, theirs, KNOWN);
  let expected = applied.expected;
  let actual = ours;
  let burstNote = '';
  if (windowedOp(sc) && (sc.params.emit === 'update' || sc.op === 'session')) {
    // several updates of one record (hopping, sliding windows), or several sessions closed by one record: Kafka
    // Streams does not define their order, and it is not the order of time windows (start, then key)
    burstNote = ', bursts compared sorted';
    expected = sortBursts(expected);
    actual = sortBursts(ours);
  } else if (windowedOp(sc)) {
    // the order of several results of one input record is not defined by Kafka Streams: each side keeps its rule
    expect(outOfOrder(theirs, KSTREAMS_ORDER), `${sc.name}: Kafka Streams' order inside a burst`).toBeUndefined();
    expect(
      outOfOrder(ours, EDDY_ORDER),
      `${sc.name}: eddy's order inside a burst (by ${KNOWN.avroKeyOrder ? 'Avro-encoded' : 'UTF-8'} key bytes: KNOWN.avroKeyOrder)`,
    ).toBeUndefined();
    if (KNOWN.avroKeyOrder) {
      burstNote = `, ${countReordered(theirs, ours)} bursts ordered differently (avroKeyOrder)`;
      expected = sortBursts(expected);
      actual = sortBursts(ours);
    }
  }
  const diff = firstDifference(sc, expected, actual);
  if (diff !== undefined) {
    // tell a changed known difference apart from a new one
    const sorted = windowedOp(sc) && (KNOWN.avroKeyOrder || sc.params.emit === 'update' || sc.op === 'session');
    const raw = firstDifference(sc, sorted ? sortBursts(theirs) : theirs, actual);
    const hint =
      raw === undefined
        ? '\neddy now equals Kafka Streams exactly: a known difference is gone; set its flag in KNOWN to false'
        : '';
    expect.fail(`${diff}${hint}`);
  }
  checkDeadLetters(sc, dead);
  checkKStreamsTimestamps(sc, theirs, dead);
  const known = Object.entries(applied.counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  const reasons = countBy(dead.map((d) => d.reason.replace(/:.*$/, '')));
  return `${sc.name}: ${sc.input.length} in, ${theirs.length} out of Kafka Streams, ${ours.length} out of eddy, equal${
    known === '' ? '' : ` after known differences (${known})`
  }${burstNote}; eddy dead letters: ${JSON.stringify(reasons)}`;
}

/**
 * The other half of KNOWN.windowTimestamp and KNOWN.aggregateTimestamp: Kafka Streams stamps a result with the largest
 * timestamp of the records folded into it (per window and key; per key for a non-windowed aggregate). The records
 * folded in are the inputs of that key (and window) up to the output's input record, less those eddy dead-lettered as
 * late (the outputs agree, so both sides folded the same records).
 */
function checkKStreamsTimestamps(sc: Scenario, theirs: readonly OutputRecord[], dead: readonly DeadLetter[]): void {
  const final = sc.op === 'window' && sc.params.emit !== 'update';
  if (!(KNOWN.windowTimestamp && final) && !(KNOWN.aggregateTimestamp && sc.op === 'aggregate')) return;
  const late = new Set(dead.filter((d) => /^late record: /.test(d.reason)).map((d) => d.after));
  for (const o of theirs) {
    const w = o.value as { start?: number; end?: number };
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i <= o.after; i++) {
      const r = sc.input[i];
      if (r.key !== o.key || late.has(i)) continue;
      if (final && (r.ts < w.start! || r.ts >= w.end!)) continue;
      max = Math.max(max, r.ts);
    }
    expect(o.ts, `${sc.name}: Kafka Streams stamps ${JSON.stringify(o)} with its records' largest timestamp`).toBe(max);
  }
}

/** Every null-key input is dead-lettered by eddy when it reads it (KNOWN.nullKey), and only those are unread. */
function checkDeadLetters(sc: Scenario, dead: readonly DeadLetter[]): void {
  const nullKeys = sc.input.flatMap((r, i) => (r.key === null ? [i] : []));
  const noKey = dead.filter((d) => /the record has no key/.test(d.reason)).map((d) => d.after);
  if (KNOWN.nullKey) expect(noKey, `${sc.name}: eddy dead-letters each null-key record`).toEqual(nullKeys);
  const nullRef = /^processing error: Cannot serialize a value for subject "table-key".*got null/;
  if (KNOWN.nullMappedKey && sc.op === 'global-join') {
    const mappedToNull = sc.input.flatMap((r, i) =>
      r.topic === 'in' && r.key !== null && (r.value as { ref: unknown }).ref === null ? [i] : [],
    );
    expect(mappedToNull.length, `${sc.name}: the input has records whose mapped key is null`).toBeGreaterThan(0);
    expect(
      dead.filter((d) => d.processor === 'join' && nullRef.test(d.reason)).map((d) => d.after),
      `${sc.name}: eddy dead-letters each record whose mapped table key is null (KNOWN.nullMappedKey)`,
    ).toEqual(mappedToNull);
  }
  // Without KNOWN.nullKey, a null-key record reaches the operators; one that needs a key (an aggregation) dead-letters
  // it where Kafka Streams drops it and counts a metric: eddy's deliberate difference (README, "Differences from Kafka
  // Streams"), allowed at null-key inputs only.
  const nullKeyAt = new Set(nullKeys);
  const other = dead.filter(
    (d) =>
      !(KNOWN.nullKey && /the record has no key/.test(d.reason)) &&
      !(!KNOWN.nullKey && /^null key: /.test(d.reason) && nullKeyAt.has(d.after)) &&
      !(windowedOp(sc) && /^late record: /.test(d.reason)) &&
      !(KNOWN.nullMappedKey && sc.op === 'global-join' && nullRef.test(d.reason)),
  );
  expect(other, `${sc.name}: no dead letters but the known ones (and late records of windows)`).toEqual([]);
}

function countReordered(theirs: readonly OutputRecord[], ours: readonly OutputRecord[]): number {
  const key = (b: readonly OutputRecord[]) => b.map((r) => JSON.stringify([r.key, r.value])).join('|');
  const by = (xs: readonly OutputRecord[]) => {
    const m = new Map<number, OutputRecord[]>();
    for (const x of xs) m.set(x.after, [...(m.get(x.after) ?? []), x]);
    return m;
  };
  const a = by(theirs);
  let n = 0;
  for (const [after, b] of by(ours)) if (b.length > 1 && key(b) !== key(a.get(after) ?? [])) n++;
  return n;
}

function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * Scenarios of the new operators where eddy differs from Kafka Streams 3.9.1 today, found by this test: open work,
 * listed in the README's differences. The test asserts that each still differs, so a fix fails it here: then take the
 * scenario off this list.
 */
const KNOWN_DIFFERENT: Readonly<Record<string, string>> = {
  'stream-stream join inner': 'eddy dead-letters records Kafka Streams joins or drops silently (not yet analysed)',
  'stream-stream join left':
    'eddy emits an unmatched left record once stream time passes its window end + grace; Kafka Streams 3.9.1 only when a later left record arrives',
  'stream-stream join outer': 'as the left join, on both sides',
  'table filter mapValues':
    "eddy's Table.filter does not forward a tombstone for every record it filters out; Kafka Streams' KTable#filter does (its javadoc)",
  'table-table join inner':
    'eddy emits a result for a tombstone of a key that was already absent; Kafka Streams emits nothing',
  'table-table join left': 'as the inner join',
  'table-table join outer': 'as the inner join',
};

/** For operators not merged yet: the DSL method that is missing, or undefined when eddy can run the scenario. */
function missingFor(sc: Scenario): string | undefined {
  const m = missing(sc.op);
  if (m !== undefined || sc.op !== 'window' || sc.params.emit !== 'update') return m;
  // emit 'update' exists once the windowed aggregate's node carries its emit strategy (OPERATORS.md rule 2)
  const node = build(sc.op, sc.params).topology.nodes.find((n) => n.kind === 'window-aggregate');
  return node?.params?.emit === 'update' ? undefined : "WindowedStream.aggregate's emit: 'update'";
}

describe(`differential: eddy vs Kafka Streams 3.9.1 TopologyTestDriver (seed ${SEED})`, () => {
  for (const sc of core)
    it(sc.name, async () => {
      console.log(await check(sc));
    });

  it('the operators being added (OPERATORS.md): Kafka Streams runs every scenario; eddy each one it has', async () => {
    const ran: string[] = [];
    const waiting: string[] = [];
    const failed: string[] = [];
    const stillDifferent: string[] = [];
    for (const sc of coming) {
      const out = kstreamsOutputs(sc);
      expect(out.length, `${sc.name}: Kafka Streams gave outputs`).toBeGreaterThan(0);
      const m = missingFor(sc);
      if (m !== undefined) {
        waiting.push(`${sc.name} (eddy lacks ${m}; Kafka Streams: ${out.length} outputs)`);
        continue;
      }
      // every scenario eddy can run is checked, and all their differences reported together
      const known = KNOWN_DIFFERENT[sc.name];
      try {
        ran.push(await check(sc));
        if (known !== undefined)
          failed.push(`${sc.name}: now equals Kafka Streams; take it off KNOWN_DIFFERENT (was: ${known})`);
      } catch (err) {
        if (known !== undefined) stillDifferent.push(`${sc.name}: ${known}`);
        else failed.push(err instanceof Error ? err.message : String(err));
      }
    }
    console.log(
      `ran on eddy, equal:\n  ${ran.join('\n  ') || 'none'}\nran on eddy, different:\n  ${failed.length}\nknown to differ (KNOWN_DIFFERENT):\n  ${stillDifferent.join('\n  ') || 'none'}\nnot yet on eddy:\n  ${waiting.join('\n  ') || 'none'}`,
    );
    expect(failed, `${failed.length} scenarios of the operators being added differ from Kafka Streams`).toEqual([]);
    expect(stillDifferent.length).toBe(Object.keys(KNOWN_DIFFERENT).length); // every listed scenario ran
  });

  it('the comparison sees a difference: a changed timestamp, a missing record, swapped records', () => {
    const sc = core.find((x) => x.op === 'filter-map') ?? [...core, ...coming][0];
    const out = kstreamsOutputs(sc);
    expect(out.length).toBeGreaterThan(10);
    expect(firstDifference(sc, out, out)).toBeUndefined();
    expect(firstDifference(sc, out, [{ ...out[0], ts: out[0].ts + 1 }, ...out.slice(1)])).toMatch(/output 0 of/);
    expect(firstDifference(sc, out, out.slice(0, -1))).toMatch(/eddy: +nothing/);
    expect(firstDifference(sc, out, [out[1], out[0], ...out.slice(2)])).toMatch(/output 0 of/);
  });
});
