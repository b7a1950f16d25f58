/**
 * Provenance (issue: "Nothing lost, nothing stuck", item 6): on an external input, a record's provenance is its own
 * topic, partition and offset, whatever `eddy.source.*` headers it arrived with; and a window's output carries the
 * same provenance whatever the batch size, so a replay reproduces outputs byte for byte.
 */

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import type { Flight } from '../../examples/flight-delays/types.js';
import type { LogRecord } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { HEADERS } from '../../src/runtime/serdes.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { loadSchemas } from '../../src/schema/load.js';
import { packageRoot } from '../../src/util/paths.js';
import { tempBackend } from '../helpers/backend.js';
import { snapshot } from '../helpers/snapshot.js';

const topology = buildFlightDelays();
type Env = ReturnType<typeof tempBackend>;

async function runAll(env: Env, maxBatchRecords: number): Promise<void> {
  await new TopologyRunner(topology, {
    log: env.log,
    registry: env.registry,
    stateDir: env.stateDir,
    untilIdle: true,
    maxBatchRecords,
  }).run();
}

async function readAll(env: Env, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const o of await env.log.offsets(topic))
    for await (const b of env.log.read({ topic, partition: o.partition })) out.push(...b);
  return out;
}

describe('provenance', () => {
  const a = tempBackend('eddy-prov-a-');
  const b = tempBackend('eddy-prov-b-');
  beforeAll(async () => {
    for (const env of [a, b]) await loadFlightData({ log: env.log, registry: env.registry, limit: 30_000 });
  }, 120_000);
  afterAll(async () => {
    await a.destroy();
    await b.destroy();
  });

  it('window outputs are byte for byte the same with batches of 5,000 and of 777', async () => {
    await runAll(a, 5_000);
    await runAll(b, 777);
    const sa = await snapshot(a.log, a.registry, a.stateDir, topology);
    const sb = await snapshot(b.log, b.registry, b.stateDir, topology);
    expect(sa.topics['airport-delays-hourly.v1'].flat().length).toBeGreaterThan(1_000);
    expect(sb).toEqual(sa);
  }, 300_000);

  it('spoofed eddy.source.* headers on an input are ignored: dead letters name the real position', async () => {
    const keySerde = await AvroSerde.create<string>(a.registry, 'flights-key', 'string');
    const key = keySerde.serialize('SFO');
    const partitions = (await a.log.describeTopic('flights'))!.partitions;
    const partition = partitionFor(key, partitions);
    const spoof = {
      [HEADERS.sourceTopic]: Buffer.from('spoofed-topic'),
      [HEADERS.sourcePartition]: Buffer.from('9'),
      [HEADERS.sourceOffset]: Buffer.from('123456789'),
    };
    const flightSerde = await AvroSerde.create<Flight>(
      a.registry,
      'flights-value',
      loadSchemas(join(packageRoot(import.meta.url), 'schemas')).get('Flight')!,
    );
    // two malformed records (dead-lettered by the deserializer) and one valid flight to an unknown airport (by the join)
    const values = [
      Buffer.from('not avro 0'),
      Buffer.from('not avro 1'),
      flightSerde.serialize({ date: 978307200000, delay: 5, distance: 100, origin: 'SFO', destination: 'NOWHERE' }),
    ];
    const producer = a.log.producer();
    const appended = await producer.send(
      values.map((value) => ({ topic: 'flights', partition, key, value, headers: spoof, timestamp: 978307200000 })),
    );
    await producer.close();
    const offsets = appended.offsets.get(`flights:${partition}`)!;
    await runAll(a, 5_000);
    const dead = (await readAll(a, topology.deadLetterTopic)).filter(
      (r) =>
        (r.headers[HEADERS.sourceOffset] !== undefined &&
          offsets.includes(Number(r.headers[HEADERS.sourceOffset].toString()))) ||
        r.headers[HEADERS.sourceTopic]?.toString() === 'spoofed-topic',
    );
    expect(dead.map((r) => r.headers[HEADERS.dlqProcessor].toString())).toEqual([
      'deserialize',
      'deserialize',
      'enrich-destination',
    ]);
    for (const [i, r] of dead.entries()) {
      expect(r.headers[HEADERS.sourceTopic].toString()).toBe('flights');
      expect(Number(r.headers[HEADERS.sourcePartition].toString())).toBe(partition);
      expect(Number(r.headers[HEADERS.sourceOffset].toString())).toBe(offsets[i]);
    }
  }, 300_000);
});
