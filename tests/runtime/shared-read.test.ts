/**
 * Shared read: two versions of a topology in one runner read their input through one consumer. They end with the
 * same outputs, dead letters and stores as two separate runs of each version alone, and the input is fetched once.
 * A version started later catches up with its own reads and joins, leaving the first version's results untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';
import { type RunSnapshot, snapshot } from '../helpers/snapshot.js';
import { buildDelays } from '../helpers/versions.js';

const LIMIT = 20_000;
const v1 = buildDelays(1, 15);
const v2 = buildDelays(2, 14);

type Env = ReturnType<typeof tempBackend>;

async function run(env: Env, versions: Topology[], maxBatchRecords = 700): Promise<TopologyRunner> {
  const runner = new TopologyRunner(versions, {
    log: env.log,
    registry: env.registry,
    stateDir: env.stateDir,
    untilIdle: true,
    maxBatchRecords,
  });
  await runner.run();
  return runner;
}

describe('shared read: several versions through one consumer', () => {
  const alone1 = tempBackend('eddy-shared-a1-');
  const alone2 = tempBackend('eddy-shared-a2-');
  const both = tempBackend('eddy-shared-both-');
  const late = tempBackend('eddy-shared-late-');
  const expected: Record<number, RunSnapshot> = {};

  beforeAll(async () => {
    for (const env of [alone1, alone2, both, late])
      await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
    await run(alone1, [v1]);
    await run(alone2, [v2]);
    expected[1] = await snapshot(alone1.log, alone1.registry, alone1.stateDir, v1);
    expected[2] = await snapshot(alone2.log, alone2.registry, alone2.stateDir, v2);
  }, 300_000);
  afterAll(async () => {
    for (const env of [alone1, alone2, both, late]) await env.destroy();
  });

  it('the two versions differ (the test can tell them apart)', () => {
    expect(expected[1].stores.route_stats.length).toBeGreaterThan(100);
    expect(expected[1].stores.route_stats).not.toEqual(expected[2].stores.route_stats);
  });

  it('two versions in one runner equal two separate runs, and the input is fetched once', async () => {
    const runner = await run(both, [v1, v2]);
    expect(await snapshot(both.log, both.registry, both.stateDir, v1)).toEqual(expected[1]);
    expect(await snapshot(both.log, both.registry, both.stateDir, v2)).toEqual(expected[2]);
    expect(runner.fetched.sharedInputRecords).toBe(LIMIT);
    expect(runner.fetched.catchUpRecords).toBe(0);
    expect(runner.statsOf(1)!.totalIn(['flights'])).toBe(LIMIT);
    expect(runner.statsOf(2)!.totalIn(['flights'])).toBe(LIMIT);
  }, 300_000);

  it('a version added later catches up with its own reads, then joins; the first version is not disturbed', async () => {
    await run(late, [v1]);
    const before = await snapshot(late.log, late.registry, late.stateDir, v1);
    const committedBefore = await late.log.committedOffsets(v1.groupId, 'flights');
    const runner = await run(late, [v1, v2]);
    expect(runner.fetched.catchUpRecords).toBe(LIMIT); // v2 read the whole input on its own; v1 had nothing left
    expect(await snapshot(late.log, late.registry, late.stateDir, v1)).toEqual(before);
    expect(await late.log.committedOffsets(v1.groupId, 'flights')).toEqual(committedBefore);
    expect(await snapshot(late.log, late.registry, late.stateDir, v2)).toEqual(expected[2]);
  }, 300_000);
});
