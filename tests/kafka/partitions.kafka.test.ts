/**
 * A partition-count change under a running worker is detected at once (issue 16, item 2). The input grows from 4 to 6
 * partitions through the admin API (`createPartitions`) while `eddy worker` runs, then flights are produced over all
 * 6 partitions (keys spread by the new count, as any producer would after its next metadata refresh). The worker must
 * stop with `PARTITION_COUNT_CHANGED` naming the topic and both counts, and nothing may be committed after the change:
 * no output, changelog, repartition or dead-letter record, and no consumed offset.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Log, ProducerRecord } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import type { Topology } from '../../src/topology/graph.js';
import { eddy, type Proc } from '../helpers/proc.js';
import { committedSum, eventually, type FlightNamespace, flightNamespace, kafkaEnv, kafkaLog } from './helpers.js';
import { keepForever } from './keep-forever.js';

const N = 1_000;
const BATCH = 200;
const BEFORE = 4;
const AFTER = 6;
const M = 300;
const AIRPORTS = ['ORD', 'LAX', 'ATL', 'DFW', 'DEN', 'SFO', 'JFK', 'SEA', 'BOS', 'PHX'];

/**
 * The end offsets (high watermarks) of every topic the topology writes, and its consumed offsets: what a run wrote.
 * End offsets, not record counts: a record or a transaction marker appended moves them, while eddy's purge of
 * committed repartition records (DeleteRecords) does not.
 */
async function written(log: Log, t: Topology): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const info of t.topics.values())
    if (['output', 'dlq', 'changelog', 'repartition'].includes(info.role))
      out[info.name] = (await log.offsets(info.name)).map((o) => o.high);
  for (const info of t.topics.values())
    if (info.role === 'source' || info.role === 'repartition')
      out[`committed ${info.name}`] = [await committedSum(log, t.groupId, info.name)];
  return out;
}

/** Starts `eddy worker` on `f` and waits until it committed the loaded flights and wrote nothing more. */
async function idleWorker(f: FlightNamespace, procs: Proc[]): Promise<Proc> {
  const w = eddy(['--data-dir', `${f.dir}/w`, 'worker', f.topology.name], f.env, { cwd: f.dir });
  procs.push(w);
  await eventually('the loaded flights committed', async () => {
    if (w.child.exitCode !== null) throw new Error(`worker exited ${w.child.exitCode}: ${w.stderr()}`);
    return (await committedSum(f.log, f.topology.groupId, f.topics.flights)) === N;
  });
  // the repartition topic's records are committed downstream too: the worker is idle
  await eventually('the repartition topic consumed', async () => {
    const before = await written(f.log, f.topology);
    await new Promise((r) => setTimeout(r, 1_000));
    return JSON.stringify(await written(f.log, f.topology)) === JSON.stringify(before);
  });
  return w;
}

/** Adds partitions to `topic` through the admin API, up to `count`. */
async function grow(f: FlightNamespace, topic: string, count: number): Promise<void> {
  const admin = new Kafka({
    brokers: kafkaEnv().brokers,
    clientId: `${f.ns}-admin`,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.createPartitions({ topicPartitions: [{ topic, count }] });
  } finally {
    await admin.disconnect();
  }
}

/** The worker's exit and its error line. */
async function failure(w: Proc): Promise<string> {
  const exit = await w.exit;
  expect(exit.code, w.stderr()).toBe(1);
  const err = w.lines.find((l) => l.event === 'error');
  expect(err?.code, JSON.stringify(w.lines.slice(-5))).toBe('PARTITION_COUNT_CHANGED');
  return String(err?.msg);
}

describe('a partition-count change under a running worker', () => {
  const namespaces: FlightNamespace[] = [];
  const procs: Proc[] = [];

  beforeAll(() => {
    kafkaEnv();
  });

  async function namespace(): Promise<FlightNamespace> {
    const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(f);
    await keepForever(f, kafkaEnv().brokers);
    return f;
  }

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exit));
    for (const f of namespaces) await f.cleanup().catch(() => undefined);
  }, 120_000);

  it('stops the worker with PARTITION_COUNT_CHANGED naming the topic and counts; nothing is written after it', async () => {
    const f = await namespace();
    expect((await f.log.describeTopic(f.topics.flights))?.partitions).toBe(BEFORE);
    const w = await idleWorker(f, procs);
    const before = await written(f.log, f.topology);

    await grow(f, f.topics.flights, AFTER);
    const flight = await AvroSerde.create<unknown>(
      f.registry,
      `${f.topics.flights}-value`,
      f.topology.topics.get(f.topics.flights)!.valueSchema!,
    );
    const key = await AvroSerde.create<string>(f.registry, `${f.topics.flights}-key`, 'string');
    const records: ProducerRecord[] = [];
    for (let i = 0; i < M; i++) {
      const origin = AIRPORTS[i % AIRPORTS.length];
      const k = key.serialize(origin);
      const date = Date.UTC(2001, 6, 1) + i * 5 * 60_000;
      records.push({
        topic: f.topics.flights,
        partition: partitionFor(k, AFTER),
        key: k,
        value: flight.serialize({
          date,
          delay: (i % 60) - 10,
          distance: 500,
          origin,
          destination: AIRPORTS[(i + 3) % AIRPORTS.length],
        }),
        timestamp: date,
      });
    }
    expect(new Set(records.map((r) => r.partition)).size).toBeGreaterThan(BEFORE);
    // a new client: its metadata knows the new partitions
    const log = kafkaLog(`${f.ns}-producer`);
    const producer = log.producer();
    try {
      await producer.send(records);
    } finally {
      await producer.close();
      await log.close();
    }

    const msg = await failure(w);
    expect(msg).toContain(`source topic "${f.topics.flights}"`);
    expect(msg).toContain(`now has ${AFTER} partition(s), not the ${BEFORE}`);
    expect(msg).toContain('new version');
    expect(await written(f.log, f.topology)).toEqual(before);
  }, 600_000);

  it('a repartition topic grown under the worker stops it the same way', async () => {
    const f = await namespace();
    const repartition = [...f.topology.topics.values()].find((i) => i.role === 'repartition')!.name;
    const w = await idleWorker(f, procs);
    const before = await written(f.log, f.topology);
    const count = (await f.log.describeTopic(repartition))!.partitions;
    await grow(f, repartition, count + 2);
    const msg = await failure(w);
    expect(msg).toContain(`repartition topic "${repartition}"`);
    expect(msg).toContain(`now has ${count + 2} partition(s), not the ${count}`);
    const after = await written(f.log, f.topology);
    // the two new partitions stay empty; nothing else moved
    expect(after[repartition].slice(count)).toEqual([0, 0]);
    expect({ ...after, [repartition]: after[repartition].slice(0, count) }).toEqual(before);
  }, 600_000);

  it('a deleted input topic stops the worker within seconds with TOPIC_DELETED naming it and its role', async () => {
    const f = await namespace();
    const w = await idleWorker(f, procs);
    const admin = new Kafka({
      brokers: kafkaEnv().brokers,
      clientId: `${f.ns}-admin`,
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [f.topics.flights] });
    } finally {
      await admin.disconnect();
    }
    const deletedAt = Date.now();
    const exit = await w.exit;
    expect(exit.code, w.stderr()).toBe(1);
    const err = w.lines.find((l) => l.event === 'error');
    expect(err?.code, JSON.stringify(w.lines.slice(-5))).toBe('TOPIC_DELETED');
    expect(String(err?.msg)).toContain(`the source topic "${f.topics.flights}"`);
    // seconds, not minutes of consumer restarts (the watch checks every 2 s and wants two misses in a row)
    expect(exit.atMs - deletedAt).toBeLessThan(60_000);
  }, 600_000);
});
