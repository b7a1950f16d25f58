/**
 * A stream–stream join through the runtime on the embedded log: two co-partitioned input topics (3 partitions each)
 * meet in one sub-topology whose tasks read both (routes per source topic); the results equal the test driver's.
 * The scenario (tests/helpers/stream-join.ts) makes the results independent of the order in which a task reads its
 * two topics; its second phase runs after the local state was deleted, so the join's stores come back from their
 * changelogs and stream time from the committed offsets.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { tempBackend } from '../helpers/backend.js';
import {
  buildJoin,
  expectedJoin,
  joinInputs,
  PARTITIONS,
  produceJoinInputs,
  readJoinOutput,
} from '../helpers/stream-join.js';

const S = { name: 'orders-payments', orders: 'sj-orders', payments: 'sj-payments', output: 'paid' };

describe('stream-stream join on the embedded log (two co-partitioned inputs)', () => {
  const env = tempBackend('eddy-ssjoin-');
  afterAll(() => env.destroy());

  it('joins across the two topics of each task and equals the test driver', async () => {
    const expected = await expectedJoin(S);
    // Inner pairs; `o/-` for the orders of keys c9-c11 (no payments); `-/p` for the payments of c3 and c7 (no orders).
    expect(expected.filter((e) => / o\d+\/- /.test(e)).length).toBeGreaterThan(0);
    expect(expected.filter((e) => / -\/\d+ /.test(e)).length).toBeGreaterThan(0);
    expect(expected.filter((e) => / o\d+\/\d+ /.test(e)).length).toBeGreaterThan(50);

    const t = buildJoin(S);
    await env.log.createTopics([
      { name: S.orders, partitions: PARTITIONS },
      { name: S.payments, partitions: PARTITIONS },
    ]);
    const { phase1, phase2 } = joinInputs(S);
    const run = () =>
      new TopologyRunner(t, { log: env.log, registry: env.registry, stateDir: env.stateDir, untilIdle: true }).run();
    await produceJoinInputs(env.log, env.registry, S, phase1);
    await run();
    rmSync(env.stateDir, { recursive: true, force: true });
    await produceJoinInputs(env.log, env.registry, S, phase2);
    await run();
    expect(await readJoinOutput(env.log, env.registry, S)).toEqual(expected);
  });

  it('refuses inputs that are not co-partitioned before any write', async () => {
    const t = buildJoin(S);
    const other = tempBackend('eddy-ssjoin-cp-');
    try {
      await other.log.createTopics([
        { name: S.orders, partitions: 3 },
        { name: S.payments, partitions: 2 },
      ]);
      await expect(
        new TopologyRunner(t, {
          log: other.log,
          registry: other.registry,
          stateDir: other.stateDir,
          untilIdle: true,
        }).run(),
      ).rejects.toThrow('reads topics that are not co-partitioned: sj-orders (3), sj-payments (2)');
    } finally {
      await other.destroy();
    }
  });
});
