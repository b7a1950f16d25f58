/**
 * At-least-once on a real Apache Kafka broker: the flight-delays topology runs in-process with
 * `processingGuarantee: 'at-least-once'` (outputs and changelogs through the idempotent, non-transactional producer;
 * input offsets through the group member's OffsetCommit, with the stream times as metadata). Without a crash nothing
 * is reprocessed, so it ends identical to an exactly-once run in another namespace.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { type Decoded, decodedSnapshot, type FlightNamespace, flightNamespace, kafkaEnv } from './helpers.js';

const N = 12_000;
const BATCH = 500;

describe('at-least-once on Kafka', () => {
  let reference: Decoded;
  const namespaces: FlightNamespace[] = [];

  beforeAll(async () => {
    kafkaEnv();
    const ref = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(ref);
    const stateDir = join(ref.dir, 'state');
    await new TopologyRunner(ref.topology, {
      log: ref.log,
      registry: ref.registry,
      stateDir,
      untilIdle: true,
      maxBatchRecords: BATCH,
    }).run();
    reference = await decodedSnapshot(ref.log, ref.registry, stateDir, ref.topology);
    expect(reference.outputs.flat().length).toBeGreaterThan(1000);
    expect(reference.stores.route_stats.length).toBeGreaterThan(500);
  }, 600_000);

  afterAll(async () => {
    for (const f of namespaces) await f.cleanup();
  });

  it('runs to idle with the same stores and outputs as an exactly-once run; offsets committed with metadata', async () => {
    const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(f);
    const stateDir = join(f.dir, 'state');
    const stats = await new TopologyRunner(f.topology, {
      log: f.log,
      registry: f.registry,
      stateDir,
      untilIdle: true,
      maxBatchRecords: BATCH,
      processingGuarantee: 'at-least-once',
    }).run();
    expect(stats.commits).toBeGreaterThanOrEqual(N / BATCH);
    expect(stats.aborts).toBe(0);
    const got = await decodedSnapshot(f.log, f.registry, stateDir, f.topology);
    expect(got.stores).toEqual(reference.stores);
    expect(got).toEqual(reference);

    const committed = await f.log.committedOffsets(f.topology.groupId, f.topics.flights);
    let sum = 0;
    for (const o of await f.log.offsets(f.topics.flights)) {
      const c = committed.get(o.partition);
      expect(c?.offset, `partition ${o.partition}`).toBe(o.high);
      expect(c?.metadata, `partition ${o.partition}`).toMatch(/^\{.+\}$/);
      sum += c!.offset;
    }
    // no transaction markers in the input, so the committed offsets add up to the records
    expect(sum).toBe(N);
  }, 600_000);
});
