/**
 * Shared read on a real Kafka broker: two versions of a topology in one runner, one consumer (the reader group), give
 * the same outputs, dead letters and stores as each version run alone, and the input is fetched once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import type { Topology } from '../../src/topology/graph.js';
import { buildDelays } from '../helpers/versions.js';
import { uniqueName } from '../log/helpers.js';
import { type Decoded, decodedSnapshot, kafkaLog, registry } from './helpers.js';

const LIMIT = 10_000;

interface Ns {
  ns: string;
  v1: Topology;
  v2: Topology;
  log: ReturnType<typeof kafkaLog>;
  reg: ReturnType<typeof registry>;
  stateDir: string;
}

async function namespace(): Promise<Ns> {
  const ns = uniqueName('sr').replace(/-\d+$/, '');
  const log = kafkaLog(ns);
  const reg = registry();
  await loadFlightData({
    log,
    registry: reg,
    limit: LIMIT,
    topics: { flights: `${ns}-flights`, airports: `${ns}-airports` },
  });
  return {
    ns,
    v1: buildDelays(1, 15, `${ns}-delays`, `${ns}-flights`),
    v2: buildDelays(2, 14, `${ns}-delays`, `${ns}-flights`),
    log,
    reg,
    stateDir: mkdtempSync(join(tmpdir(), 'eddy-kafka-shared-')),
  };
}

async function run(n: Ns, versions: Topology[]): Promise<TopologyRunner> {
  const runner = new TopologyRunner(versions, {
    log: n.log,
    registry: n.reg,
    stateDir: n.stateDir,
    untilIdle: true,
    maxBatchRecords: 700,
  });
  await runner.run();
  return runner;
}

describe('shared read on Kafka', () => {
  let alone: Ns;
  let both: Ns;
  const expected: Record<number, Decoded> = {};
  beforeAll(async () => {
    alone = await namespace();
    both = await namespace();
    await run(alone, [alone.v1]);
    await run(alone, [alone.v2]);
    expected[1] = await decodedSnapshot(alone.log, alone.reg, alone.stateDir, alone.v1);
    expected[2] = await decodedSnapshot(alone.log, alone.reg, alone.stateDir, alone.v2);
  }, 300_000);
  afterAll(async () => {
    for (const n of [alone, both]) {
      if (n === undefined) continue;
      await n.log.close();
      await n.reg.close();
      rmSync(n.stateDir, { recursive: true, force: true });
    }
  });

  it('two versions in one runner equal each version alone, with the input fetched once', async () => {
    expect(expected[1].stores.route_stats.length).toBeGreaterThan(100);
    expect(expected[1].stores.route_stats).not.toEqual(expected[2].stores.route_stats);
    const runner = await run(both, [both.v1, both.v2]);
    expect(await decodedSnapshot(both.log, both.reg, both.stateDir, both.v1)).toEqual(expected[1]);
    expect(await decodedSnapshot(both.log, both.reg, both.stateDir, both.v2)).toEqual(expected[2]);
    expect(runner.fetched.sharedInputRecords).toBe(LIMIT);
    expect(runner.fetched.catchUpRecords).toBe(0);
  }, 300_000);
});
