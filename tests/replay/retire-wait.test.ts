/**
 * `retire --yes` waits for the open run records of the version (embedded log, records written by hand as another
 * host's process would write them): a fresh one holds the deletion until the bound (the version stays retired, its
 * deletion pending, and `retire` again finishes it); one not rewritten for `KILLED_AFTER_MS` (three heartbeats) is dead
 * and does not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { getVersion, setVersionState } from '../../src/replay/registry.js';
import { RetirePendingError, retire } from '../../src/replay/retire.js';
import { ensureRunsTopic, KILLED_AFTER_MS, type RunRecord, writeRunRecord } from '../../src/runs/record.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { tempBackend } from '../helpers/backend.js';
import { runRecord } from '../helpers/run-record.js';
import { buildDelays } from '../helpers/versions.js';

const v1 = buildDelays(1);
const v2 = buildDelays(2, 14);

function openRun(runId: string, updatedMs: number, end?: number): RunRecord {
  return runRecord({
    runId,
    host: 'another-host.example',
    pid: 1,
    updatedMs,
    end: end === undefined ? undefined : { atMs: end, reason: 'retired' },
  });
}

describe('retire waits for the open runs of the version', () => {
  let env: ReturnType<typeof tempBackend>;
  const v1Topics = async () => (await env.log.listTopics()).map((t) => t.name).filter((n) => /\.v1(\.|$)/.test(n));

  beforeAll(async () => {
    env = tempBackend('eddy-retire-wait-');
    await loadFlightData({ log: env.log, registry: env.registry, limit: 1_000 });
    for (const t of [v1, v2])
      await new TopologyRunner(t, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
      }).run();
    await setVersionState(env.log, 'delays', 2, 'live');
    await ensureRunsTopic(env.log);
  }, 120_000);
  afterAll(async () => {
    await env.destroy();
  });

  it('a fresh open run: retired, nothing deleted, a clear error; retire again after it ended finishes', async () => {
    await writeRunRecord(env.log, openRun('delays.v1@fresh', Date.now()));
    const opts = { topology: 'delays', version: 1, t: v1, stateDir: env.stateDir, yes: true };
    const seen: string[][] = [];
    const err = await retire(env.log, env.registry, {
      ...opts,
      waitMs: 300,
      onWaiting: (runs) => seen.push(runs.map((r) => r.runId)),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetirePendingError);
    expect((err as RetirePendingError).code).toBe('RETIRE_PENDING');
    expect((err as Error).message).toMatch(/delays\.v1@fresh on another-host\.example pid 1/);
    expect((err as Error).message).toMatch(/eddy retire delays 1 --yes/);
    expect(seen).toEqual([['delays.v1@fresh']]);
    expect((await getVersion(env.log, 'delays', 1)).state).toBe('retired');
    const pending = await v1Topics();
    expect(pending.length).toBeGreaterThan(0);

    await writeRunRecord(env.log, openRun('delays.v1@fresh', Date.now(), Date.now()));
    const r = await retire(env.log, env.registry, { ...opts, waitMs: 300 });
    expect(r.wasRetired).toBe(true);
    expect(r.plan.topics.map((t) => t.name).sort()).toEqual([...pending].sort());
    expect(await v1Topics()).toEqual([]);
    // and once more: nothing left to delete, no error
    const again = await retire(env.log, env.registry, { ...opts, waitMs: 300 });
    expect(again.plan.topics).toEqual([]);
  });

  it('an open run not rewritten for KILLED_AFTER_MS is dead: retire does not wait for it', async () => {
    const e2 = tempBackend('eddy-retire-stale-');
    try {
      await loadFlightData({ log: e2.log, registry: e2.registry, limit: 500 });
      for (const t of [v1, v2])
        await new TopologyRunner(t, {
          log: e2.log,
          registry: e2.registry,
          stateDir: e2.stateDir,
          untilIdle: true,
        }).run();
      await setVersionState(e2.log, 'delays', 2, 'live');
      await ensureRunsTopic(e2.log);
      await writeRunRecord(e2.log, openRun('delays.v1@stale', Date.now() - KILLED_AFTER_MS - 1_000));
      const seen: unknown[] = [];
      // a bound far above the test's timeout: waiting on the dead run fails the test rather than slowing it
      const r = await retire(e2.log, e2.registry, {
        topology: 'delays',
        version: 1,
        t: v1,
        stateDir: e2.stateDir,
        yes: true,
        waitMs: 600_000,
        onWaiting: (runs) => seen.push(runs),
      });
      expect(seen).toEqual([]);
      expect(r.plan.topics.length).toBeGreaterThan(0);
      for (const t of r.plan.topics) expect(await e2.log.describeTopic(t.name)).toBeUndefined();
    } finally {
      await e2.destroy();
    }
  }, 60_000);
});
