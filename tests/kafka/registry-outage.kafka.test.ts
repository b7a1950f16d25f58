/**
 * A schema-registry outage is transient, not poison (issue 16, item 1). The worker reaches the real registry through
 * a TCP proxy on loopback (`registry-proxy.ts`) that the test cuts and restores:
 *  - records written with a writer schema registered while the worker cannot reach the registry wait (the worker
 *    logs `schema-registry-down`, `eddy_schema_registry_up` is 0, nothing is committed or dead-lettered for them) and
 *    are processed once it answers again: the end state equals an uninterrupted in-process run of the same input;
 *  - a worker restarted during an outage starts from its cache of schema ids (`<stateDir>/schemas/`) and processes;
 *  - a worker stopped (SIGTERM) while a batch waits for the registry exits 0 without committing that batch;
 *  - a worker with an empty cache started during an outage gives up after `schemaRegistry.maxOutageMs` with
 *    `SCHEMA_REGISTRY_UNREACHABLE` naming the registry URL (no crash loop of instant exits).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flight } from '../../examples/flight-delays/types.js';
import type { ProducerRecord } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { eddy, get, type Proc, ROOT } from '../helpers/proc.js';
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
import { type RegistryProxy, startRegistryProxy } from './registry-proxy.js';

const N = 1_000;
const BATCH = 200;
/** Flights written with the new writer schema during the first outage, and during the second. */
const M = 400;
const K = 200;
const PARTITIONS = 4;
const AIRPORTS = ['ORD', 'LAX', 'ATL', 'DFW', 'DEN', 'SFO', 'JFK', 'SEA'];

/**
 * Flight version 2 (adds `source_row`); with `variant`, also an optional field of that name, so that its schema id
 * differs (the registry gives schemas that differ only in `doc` one id).
 */
function flightV2(variant: string): object {
  const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'v2', 'Flight.avsc'), 'utf8')) as { fields: object[] };
  if (variant === '') return schema;
  return { ...schema, fields: [...schema.fields, { name: variant, type: ['null', 'string'], default: null }] };
}

/**
 * Appends `count` flights from `from` written with Flight v2 (registered now, straight to the registry); `variant`
 * adds a field, for another schema id.
 */
async function appendV2(f: FlightNamespace, from: number, count: number, variant = ''): Promise<void> {
  const value = await AvroSerde.create<Flight & { source_row: number | null }>(
    f.registry,
    `${f.topics.flights}-value`,
    flightV2(variant),
  );
  const key = await AvroSerde.create<string>(f.registry, `${f.topics.flights}-key`, 'string');
  const records: ProducerRecord[] = [];
  for (let i = from; i < from + count; i++) {
    const origin = AIRPORTS[i % AIRPORTS.length];
    const date = Date.UTC(2001, 6, 1) + i * 7 * 60_000;
    const k = key.serialize(origin);
    records.push({
      topic: f.topics.flights,
      partition: partitionFor(k, PARTITIONS),
      key: k,
      value: value.serialize({
        date,
        delay: (i % 120) - 30,
        distance: 300 + (i % 900),
        origin,
        destination: AIRPORTS[(i * 3 + 1) % AIRPORTS.length],
        source_row: null,
      }),
      timestamp: date,
    });
  }
  const producer = f.log.producer();
  try {
    await producer.send(records);
  } finally {
    await producer.close();
  }
}

async function total(f: FlightNamespace): Promise<number> {
  let n = 0;
  for (const o of await f.log.offsets(f.topics.flights)) n += o.high;
  return n;
}

/** The reference: the same input, run in-process with the registry up all along. */
async function reference(ref: FlightNamespace): Promise<Decoded> {
  const stateDir = join(ref.dir, 'state');
  await new TopologyRunner(ref.topology, {
    log: ref.log,
    registry: ref.registry,
    stateDir,
    untilIdle: true,
    maxBatchRecords: BATCH,
  }).run();
  return decodedSnapshot(ref.log, ref.registry, stateDir, ref.topology);
}

describe('a schema-registry outage is ridden out, never dead-lettered', () => {
  let proxy: RegistryProxy;
  let ref: FlightNamespace;
  let f: FlightNamespace;
  let env: Record<string, string>;
  const procs: Proc[] = [];
  const dataDir = () => join(f.dir, 'w');

  beforeAll(async () => {
    proxy = await startRegistryProxy(kafkaEnv().registryUrl);
    ref = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    f = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    await keepForever(ref, kafkaEnv().brokers);
    await keepForever(f, kafkaEnv().brokers);
    env = { ...f.env, SCHEMA_REGISTRY_URL: proxy.url };
  }, 300_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exit));
    await proxy?.close();
    for (const n of [ref, f]) await n?.cleanup().catch(() => undefined);
  }, 120_000);

  /** Waits until the worker committed every flight and its results equal `expected`. */
  async function caughtUp(w: Proc, expected: Decoded): Promise<Decoded> {
    const want = await total(f);
    let got: Decoded | undefined;
    await eventually('every flight committed, results equal the reference', async () => {
      if (w.child.exitCode !== null) throw new Error(`worker exited ${w.child.exitCode}: ${w.stderr()}`);
      if ((await committedSum(f.log, f.topology.groupId, f.topics.flights)) !== want) return false;
      got = await decodedSnapshot(f.log, f.registry, join(dataDir(), 'state'), f.topology);
      return JSON.stringify(got) === JSON.stringify(expected);
    }).catch((err) => {
      throw new Error(`${String(err)}\nworker log: ${JSON.stringify(w.lines.slice(-20))}`);
    });
    return got!;
  }

  it('records written with a schema registered during the outage wait, then equal an uninterrupted run', async () => {
    await appendV2(ref, 0, M);
    const expected = await reference(ref);
    expect(expected.outputs.flat().length).toBeGreaterThan(0);

    const w = eddy(['--data-dir', dataDir(), 'worker', f.topology.name], env, { cwd: f.dir });
    procs.push(w);
    const port = Number(new URL(String((await w.waitFor((l) => l.event === 'start')).url)).port);
    await eventually('the loaded flights committed', async () => {
      if (w.child.exitCode !== null) throw new Error(`worker exited ${w.child.exitCode}: ${w.stderr()}`);
      return (await committedSum(f.log, f.topology.groupId, f.topics.flights)) === N;
    });
    const before = await decodedSnapshot(f.log, f.registry, undefined, f.topology);

    proxy.down();
    await appendV2(f, 0, M);
    const down = await w.waitFor((l) => l.event === 'schema-registry-down', 120_000);
    expect(down.msg).toContain(proxy.url);
    const metrics = (await get(port, '/metrics')).text;
    expect(metrics).toContain(`eddy_schema_registry_up{url="${proxy.url}"} 0`);
    expect(metrics).toMatch(/eddy_schema_registry_outages_total\{url="[^"]+"\} 1/);
    // while down: the batches that need the new id are not processed: nothing committed or dead-lettered for them
    expect(await committedSum(f.log, f.topology.groupId, f.topics.flights)).toBe(N);
    expect(await decodedSnapshot(f.log, f.registry, undefined, f.topology)).toEqual(before);

    proxy.up();
    const got = await caughtUp(w, expected);
    await w.waitFor((l) => l.event === 'schema-registry-up', 60_000);
    expect(got.deadLetters.flat().filter((d) => d.includes('deserialization failed'))).toEqual([]);
    expect(got).toEqual(expected);
    expect((await get(port, '/metrics')).text).toContain(`eddy_schema_registry_up{url="${proxy.url}"} 1`);
    expect(w.lines.filter((l) => l.event === 'error' || l.event === 'reconnect')).toEqual([]);
    w.child.kill('SIGTERM');
    expect((await w.exit).code, w.stderr()).toBe(0);
  }, 600_000);

  it('a worker restarted during an outage starts from its cache of schema ids and processes', async () => {
    await appendV2(ref, M, K);
    const expected = await reference(ref);
    proxy.down();
    await appendV2(f, M, K);
    const w = eddy(['--data-dir', dataDir(), 'worker', f.topology.name], env, { cwd: f.dir });
    procs.push(w);
    const got = await caughtUp(w, expected);
    expect(got).toEqual(expected);
    expect(w.lines.some((l) => l.event === 'schema-registry-down')).toBe(true);
    expect(w.lines.filter((l) => l.event === 'error')).toEqual([]);
    w.child.kill('SIGTERM');
    expect((await w.exit).code, w.stderr()).toBe(0);
  }, 600_000);

  it('a worker stopped during an outage exits 0, commits nothing for the waiting batch, and resumes', async () => {
    await appendV2(ref, M + K, K, 'gate');
    const expected = await reference(ref);
    const committed = await committedSum(f.log, f.topology.groupId, f.topics.flights);
    const w = eddy(['--data-dir', dataDir(), 'worker', f.topology.name], env, { cwd: f.dir });
    procs.push(w);
    await w.waitFor((l) => l.event === 'ready', 120_000);
    proxy.down();
    await appendV2(f, M + K, K, 'gate'); // a schema id the worker's cache does not hold
    await w.waitFor((l) => l.event === 'schema-registry-down', 120_000);
    w.child.kill('SIGTERM');
    const exit = await w.exit;
    expect(exit.code, JSON.stringify(w.lines.slice(-5))).toBe(0);
    expect(await committedSum(f.log, f.topology.groupId, f.topics.flights)).toBe(committed);
    proxy.up();
    const again = eddy(['--data-dir', dataDir(), 'worker', f.topology.name], env, { cwd: f.dir });
    procs.push(again);
    expect(await caughtUp(again, expected)).toEqual(expected);
    again.child.kill('SIGTERM');
    expect((await again.exit).code, again.stderr()).toBe(0);
  }, 600_000);

  it('with an empty cache, a worker started during an outage exits after maxOutageMs naming the registry', async () => {
    proxy.down();
    const w = eddy(
      ['--data-dir', join(f.dir, 'cold'), 'worker', f.topology.name],
      {
        ...env,
        SCHEMA_REGISTRY_MAX_OUTAGE_MS: '2000',
      },
      { cwd: f.dir },
    );
    procs.push(w);
    const exit = await w.exit;
    proxy.up();
    expect(exit.code, w.stderr()).toBe(1);
    const err = w.lines.find((l) => l.event === 'error');
    expect(err?.code, JSON.stringify(w.lines.slice(-5))).toBe('SCHEMA_REGISTRY_UNREACHABLE');
    expect(String(err?.msg)).toContain(proxy.url);
    expect(String(err?.msg)).toContain('schemaRegistry.maxOutageMs');
  }, 300_000);
});
