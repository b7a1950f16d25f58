/**
 * Poison records on a real broker (issue 9, item 2): a record that would make a transaction fail (a dead letter
 * too large for the dead-letter topic, a reason quoting a huge field) must never wedge an `eddy worker`. Each case
 * loads flights, appends the poison records to one partition with valid flights behind them, runs a real worker
 * process and checks that
 *  - the worker processes every record (its committed positions reach the end of `flights`) without failing;
 *  - every valid flight is counted in `route_stats` (an independent count from the parquet file, plus the tail);
 *  - the poison is dead-lettered with its provenance and reason (and, when too large for the dead-letter topic,
 *    with its original size instead of its key and value);
 *  - the run equals an uninterrupted in-process run of the same input.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flight } from '../../examples/flight-delays/types.js';
import { type LogRecord, type ProducerRecord, tpKey } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { DLQ_ORIGINAL_BYTES, MAX_REASON_CHARS } from '../../src/runtime/records.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { loadSchemas } from '../../src/schema/load.js';
import { topicConfigFor } from '../../src/topology/topic-config.js';
import { expectedResults } from '../helpers/flights.js';
import { eddy, type Proc, ROOT } from '../helpers/proc.js';
import {
  committedSum,
  type Decoded,
  decodedSnapshot,
  eventually,
  type FlightNamespace,
  flightNamespace,
  kafkaEnv,
} from './helpers.js';
import { keepForever } from './keep-forever.js';

const N = 2_000;
const BATCH = 200;
/** Valid flights appended behind the poison (ORD -> LAX, one a minute from the last day of 2001). */
const TAIL = 300;
const FLIGHTS_PARTITIONS = 4;

/** One case: the poison records to append, and an optional `max.message.bytes` for the dead-letter topic. */
interface PoisonCase {
  /** Builds the poison records (topic and partition are filled in). */
  poison(flight: AvroSerde<Flight>, key: Buffer): { key: Buffer; value: Buffer }[];
  dlqMaxBytes?: number;
}

interface Prepared {
  f: FlightNamespace;
  /** Offsets of the poison records in `flights`, partition `partition`. */
  poisonOffsets: number[];
  partition: number;
  /** Records in `flights` in all. */
  total: number;
}

/** A namespace with N flights, then the poison and TAIL valid flights appended to ORD's partition. */
async function prepare(c: PoisonCase): Promise<Prepared> {
  const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
  if (c.dlqMaxBytes !== undefined)
    await f.log.createTopics([
      {
        name: f.topology.deadLetterTopic,
        partitions: FLIGHTS_PARTITIONS,
        // as eddy would create it (no time retention: eddy refuses to run otherwise), with a small size limit
        config: { ...topicConfigFor('dlq'), 'max.message.bytes': String(c.dlqMaxBytes) },
      },
    ]);
  await keepForever(f, kafkaEnv().brokers);
  const schema = loadSchemas(join(ROOT, 'schemas')).get('Flight')!;
  const flight = await AvroSerde.create<Flight>(f.registry, `${f.topics.flights}-value`, schema);
  const keySerde = await AvroSerde.create<string>(f.registry, `${f.topics.flights}-key`, 'string');
  const key = keySerde.serialize('ORD');
  const partition = partitionFor(key, FLIGHTS_PARTITIONS);
  const at = (r: { key: Buffer; value: Buffer }, i: number): ProducerRecord => ({
    topic: f.topics.flights,
    partition,
    key: r.key,
    value: r.value,
    timestamp: Date.UTC(2001, 11, 31) + i * 60_000,
  });
  const producer = f.log.producer();
  try {
    const poison = await producer.send(c.poison(flight, key).map(at));
    const tail: { key: Buffer; value: Buffer }[] = [];
    for (let i = 0; i < TAIL; i++)
      tail.push({
        key,
        value: flight.serialize({
          date: Date.UTC(2001, 11, 31) + i * 60_000,
          delay: (i % 90) - 20,
          distance: 1745,
          origin: 'ORD',
          destination: 'LAX',
        }),
      });
    await producer.send(tail.map((r, i) => at(r, i)));
    let total = 0;
    for (const o of await f.log.offsets(f.topics.flights)) total += o.high;
    return { f, poisonOffsets: [...(poison.offsets.get(tpKey(f.topics.flights, partition)) ?? [])], partition, total };
  } finally {
    await producer.close();
  }
}

/** The dead letters of a namespace, in offset order, from every partition. */
async function deadLetters(f: FlightNamespace): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const o of await f.log.offsets(f.topology.deadLetterTopic))
    for await (const b of f.log.read({ topic: f.topology.deadLetterTopic, partition: o.partition })) out.push(...b);
  return out;
}

function routeFlights(d: Decoded): number {
  return (d.stores.route_stats ?? []).reduce((a, r) => a + Number(r.flights), 0);
}

describe('poison records do not wedge a worker', () => {
  let validFlights: number;
  let invalidFlights: number;
  const namespaces: FlightNamespace[] = [];
  const procs: Proc[] = [];

  beforeAll(async () => {
    kafkaEnv();
    const e = await expectedResults(N);
    invalidFlights = e.badDelay + e.unknownAirport;
    validFlights = N - invalidFlights + TAIL;
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exit));
    for (const f of namespaces) await f.cleanup().catch(() => undefined);
  }, 120_000);

  /** Runs the case in an `eddy worker` and in-process; returns the worker's run, decoded, and its dead letters. */
  async function run(c: PoisonCase): Promise<{ got: Decoded; prepared: Prepared; dlq: LogRecord[] }> {
    const ref = await prepare(c);
    namespaces.push(ref.f);
    const refState = join(ref.f.dir, 'state');
    await new TopologyRunner(ref.f.topology, {
      log: ref.f.log,
      registry: ref.f.registry,
      stateDir: refState,
      untilIdle: true,
      maxBatchRecords: BATCH,
    }).run();
    const reference = await decodedSnapshot(ref.f.log, ref.f.registry, refState, ref.f.topology);

    const p = await prepare(c);
    const { f } = p;
    namespaces.push(f);
    const dataDir = join(f.dir, 'w');
    const w = eddy(['--data-dir', dataDir, 'worker', f.topology.name], f.env, { cwd: f.dir });
    procs.push(w);
    let got: Decoded | undefined;
    await eventually(
      'every flight committed and counted',
      async () => {
        if (w.child.exitCode !== null) throw new Error(`worker exited ${w.child.exitCode}: ${w.stderr()}`);
        if ((await committedSum(f.log, f.topology.groupId, f.topics.flights)) !== p.total) return false;
        got = await decodedSnapshot(f.log, f.registry, join(dataDir, 'state'), f.topology);
        return routeFlights(got) === validFlights && JSON.stringify(got) === JSON.stringify(reference);
      },
      120_000,
      500,
    ).catch((err) => {
      throw new Error(`${String(err)}\nworker log: ${JSON.stringify(w.lines.slice(-20))}`);
    });
    w.child.kill('SIGTERM');
    expect((await w.exit).code, w.stderr()).toBe(0);
    // the poison failed no transaction: no reconnect, no error
    expect(w.lines.filter((l) => l.event === 'reconnect' || l.event === 'error')).toEqual([]);
    expect(routeFlights(got!)).toBe(validFlights);
    expect(got).toEqual(reference);
    return { got: got!, prepared: p, dlq: await deadLetters(f) };
  }

  it('a valid flight with a 900 KB destination is dead-lettered whole, reason cut; the flights behind it count', async () => {
    const destination = 'Z'.repeat(900_000);
    const { prepared, dlq } = await run({
      poison: (flight, key) => [
        {
          key,
          value: flight.serialize({
            date: Date.UTC(2001, 11, 30),
            delay: 5,
            distance: 100,
            origin: 'ORD',
            destination,
          }),
        },
      ],
    });
    expect(dlq.length).toBe(invalidFlights + 1);
    const dl = dlq.find(
      (r) => r.headers['eddy.dlq.processor']?.toString() === 'enrich-destination' && (r.value?.length ?? 0) > 900_000,
    );
    expect(dl, 'the 900 KB flight is dead-lettered with its bytes').toBeDefined();
    expect(dl!.headers['eddy.source.partition']!.toString()).toBe(String(prepared.partition));
    expect(dl!.headers['eddy.source.offset']!.toString()).toBe(String(prepared.poisonOffsets[0]));
    const reason = dl!.headers['eddy.dlq.reason']!.toString();
    expect(reason.length).toBeLessThan(MAX_REASON_CHARS + 100);
    expect(reason).toMatch(/characters\)$/);
  }, 600_000);

  it('dead letters over the dead-letter topic max.message.bytes keep provenance, size and reason, not the bytes', async () => {
    const junk = (bytes: number, fill: number) => ({ key: Buffer.from('ORD'), value: Buffer.alloc(bytes, fill) });
    // 50 KB: over the dead-letter topic's 20,000 bytes alone; 8 KB each: under it alone, over it together
    const { prepared, dlq } = await run({
      dlqMaxBytes: 20_000,
      poison: () => [junk(50_000, 0x61), junk(8_000, 0x62), junk(8_000, 0x63), junk(8_000, 0x64)],
    });
    expect(dlq.length).toBe(invalidFlights + 4);
    const poison = dlq.filter((r) => r.headers['eddy.dlq.processor']?.toString() === 'deserialize');
    expect(poison.map((r) => Number(r.headers['eddy.source.offset']!.toString()))).toEqual(prepared.poisonOffsets);
    for (const r of poison) {
      expect(r.headers['eddy.source.topic']!.toString()).toBe(prepared.f.topics.flights);
      expect(r.headers['eddy.source.partition']!.toString()).toBe(String(prepared.partition));
      expect(r.headers['eddy.dlq.reason']!.toString().length).toBeGreaterThan(0);
    }
    const [big, ...small] = poison;
    expect(big.key).toBeNull();
    expect(big.value).toBeNull();
    expect(big.headers[DLQ_ORIGINAL_BYTES]!.toString()).toBe(String(50_000 + 3));
    for (const [i, r] of small.entries()) {
      expect(r.headers[DLQ_ORIGINAL_BYTES]).toBeUndefined();
      expect(r.value!.equals(junk(8_000, 0x62 + i).value)).toBe(true);
    }
  }, 600_000);
});
