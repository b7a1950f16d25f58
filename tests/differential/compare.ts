/**
 * Runs a scenario through eddy's `TopologyTestDriver` the way the Kafka Streams side runs it (records piped one at a
 * time, outputs read after each), and compares the two runs: exact key, value, timestamp and order, except inside a
 * burst (the outputs one input record produced) where Kafka Streams defines no order; there both sides are checked
 * against their own order rule and compared as sorted.
 */
import { TopologyTestDriver } from '../../src/index.js';
import type { OutputRecord, Scenario } from './kstreams-runner.js';
import { build } from './topologies.js';

/** A dead letter of eddy's run; `after` is the input record being piped. */
export interface DeadLetter {
  readonly after: number;
  readonly processor: string;
  readonly reason: string;
}

/** Normalizes a decoded value (Avro records decode to class instances) to plain JSON. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null));

/** eddy's outputs and dead letters for a scenario. */
export async function runEddy(sc: Scenario): Promise<{ outputs: OutputRecord[]; dead: DeadLetter[] }> {
  const { topology, out } = build(sc.op, sc.params);
  const d = await TopologyTestDriver.create(topology);
  const outputs: OutputRecord[] = [];
  const dead: DeadLetter[] = [];
  try {
    for (const [i, r] of sc.input.entries()) {
      const raw = d.serializeInput({ topic: r.topic, key: r.key ?? '', value: r.value, timestampMs: r.ts });
      // a null key cannot be written through the key's Avro schema: pipe the record's bytes with no key, as a
      // producer of a keyless record does
      await d.pipeRawInputs([r.key === null ? { ...raw, key: null } : raw]);
      for (const o of d.readOutput<string, unknown>(out))
        outputs.push({ topic: 'out', key: o.key, value: plain(o.value), ts: o.timestamp, after: i });
      for (const x of d.readDeadLetters()) dead.push({ after: i, processor: x.processor, reason: x.reason });
    }
  } finally {
    await d.close();
  }
  return { outputs, dead };
}

/** The bytes of a string under Avro's encoding (zig-zag varint length, then UTF-8), as eddy's keys are written. */
export function avroString(s: string): Buffer {
  const utf8 = Buffer.from(s, 'utf8');
  let n = utf8.length * 2;
  const len: number[] = [];
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from(len), utf8]);
}

type Order = (a: OutputRecord, b: OutputRecord) => number;
const windowStart = (r: OutputRecord) => (r.value as { start: number }).start;
/** Window start, then the key's bytes as `bytes` serializes it (OPERATORS.md rule 9; Kafka Streams' store order). */
export const byStartThenKeyBytes =
  (bytes: (k: string) => Buffer): Order =>
  (a, b) =>
    windowStart(a) - windowStart(b) || Buffer.compare(bytes(a.key ?? ''), bytes(b.key ?? ''));

/** The bursts (outputs of one input record) with more than one record, by input index. */
export function bursts(outputs: readonly OutputRecord[]): OutputRecord[][] {
  const by = new Map<number, OutputRecord[]>();
  for (const o of outputs) by.set(o.after, [...(by.get(o.after) ?? []), o]);
  return [...by.values()].filter((b) => b.length > 1);
}

/** The first burst not in `order`, described; undefined when all are. */
export function outOfOrder(outputs: readonly OutputRecord[], order: Order): string | undefined {
  for (const b of bursts(outputs))
    for (let i = 1; i < b.length; i++)
      if (order(b[i - 1], b[i]) > 0)
        return `after input ${b[0].after}: ${JSON.stringify(b[i - 1])} came before ${JSON.stringify(b[i])}`;
  return undefined;
}

const canonical = (r: OutputRecord) => JSON.stringify([r.key, r.value, r.ts]);

/** Sorts each burst canonically (where the order inside a burst is not defined), keeping bursts in order. */
export function sortBursts(outputs: readonly OutputRecord[]): OutputRecord[] {
  const out: OutputRecord[] = [];
  let i = 0;
  while (i < outputs.length) {
    let j = i;
    while (j < outputs.length && outputs[j].after === outputs[i].after) j++;
    out.push(
      ...outputs.slice(i, j).sort((a, b) => (canonical(a) < canonical(b) ? -1 : canonical(a) > canonical(b) ? 1 : 0)),
    );
    i = j;
  }
  return out;
}

/**
 * The first difference between two output lists (key, value, timestamp, and the input record that produced it),
 * with the records around it and the input records that produced them; undefined when equal.
 */
export function firstDifference(
  sc: Scenario,
  expected: readonly OutputRecord[],
  actual: readonly OutputRecord[],
): string | undefined {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const a = actual[i];
    if (e !== undefined && a !== undefined && canonical(e) === canonical(a) && e.after === a.after) continue;
    const show = (r: OutputRecord | undefined) => (r === undefined ? 'nothing' : JSON.stringify(r));
    const inputs = [e?.after, a?.after]
      .filter((x): x is number => x !== undefined)
      .flatMap((x) =>
        sc.input
          .slice(Math.max(0, x - 3), x + 1)
          .map((r, k) => `  input ${Math.max(0, x - 3) + k}: ${JSON.stringify(r)}`),
      );
    return [
      `${sc.name}: output ${i} of ${expected.length} expected (Kafka Streams, known differences applied), ${actual.length} from eddy`,
      `  Kafka Streams: ${show(e)}`,
      `  eddy:          ${show(a)}`,
      ...[...new Set(inputs)],
    ].join('\n');
  }
  return undefined;
}
