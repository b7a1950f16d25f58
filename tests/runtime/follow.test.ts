/**
 * `VersionFollower` (src/runtime/follow.ts) on the embedded log: which versions a worker's code defines that it
 * starts from the versions registry (caught-up, live, superseded; not replaying, retired or unknown), that it leaves
 * to an open `eddy replay` (a live one then waits), that it refuses for a recorded fingerprint other than the code's;
 * and `catchUp`, which makes a running version at the end of its inputs caught-up and live when none is.
 */
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import type { TopicPartitionOffset } from '../../src/log/contract.js';
import { checkVersion, getVersion, liveVersionOf, readVersions, setVersionState } from '../../src/replay/registry.js';
import { ensureRunsTopic, RUNS_FORMAT, type RunRecord, writeRunRecord } from '../../src/runs/record.js';
import { VersionFollower } from '../../src/runtime/follow.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';
import { delaysTopology } from '../replay/helpers.js';

const v = (name: string, version: number, delayedMin = 15 + version): Topology =>
  delaysTopology({ name, version, delayedMin });

function replayRun(t: Topology, nowMs = Date.now()): RunRecord {
  return {
    format: RUNS_FORMAT,
    runId: `${t.groupId}@test#replay`,
    kind: 'replay',
    topology: t.name,
    version: t.version,
    host: hostname(),
    pid: process.pid,
    startMs: nowMs,
    updatedMs: nowMs,
    positionsAtStart: {},
    recordsIn: {},
    recordsOut: {},
    deadLetters: {},
    late: {},
    restoredRecords: 0,
    commits: 0,
    aborts: 0,
    errors: [],
    health: {} as RunRecord['health'],
  };
}

describe('VersionFollower', () => {
  const env = tempBackend('eddy-follow-unit-');
  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: 500, partitions: 2 });
    await ensureRunsTopic(env.log);
  });
  afterAll(async () => env.destroy());

  it('starts the defined versions recorded caught-up, live or superseded that it does not run', async () => {
    const name = 'fol-a';
    const [v1, v2, v3, v4, v5] = [1, 2, 3, 4, 5].map((n) => v(name, n));
    const follower = new VersionFollower({ log: env.log, defined: [v1, v2, v3, v4, v5] });
    expect(await follower.check([])).toEqual({ start: [], waiting: [] }); // nothing recorded
    for (const t of [v1, v2, v3, v4]) await checkVersion(env.log, t);
    // v1 live then superseded by v2; v3 caught-up; v4 replaying; v5 never ran
    await setVersionState(env.log, name, 1, 'caught-up');
    await setVersionState(env.log, name, 1, 'live');
    await setVersionState(env.log, name, 2, 'caught-up');
    await setVersionState(env.log, name, 2, 'live');
    await setVersionState(env.log, name, 3, 'caught-up');
    expect((await getVersion(env.log, name, 1)).state).toBe('superseded');
    const versions = async (running: Topology[]) => {
      const c = await follower.check(running);
      return { start: c.start.map((t) => t.version), waiting: c.waiting.map((t) => t.version) };
    };
    expect(await versions([])).toEqual({ start: [1, 2, 3], waiting: [] });
    expect(await versions([v2])).toEqual({ start: [1, 3], waiting: [] });
    // retired: never started
    await setVersionState(env.log, name, 1, 'retired');
    expect(await versions([v2])).toEqual({ start: [3], waiting: [] });
    // a version an `eddy replay` runs is left to it; a live one waits for it
    await writeRunRecord(env.log, replayRun(v3));
    await writeRunRecord(env.log, replayRun(v2));
    expect(await versions([])).toEqual({ start: [], waiting: [2] });
    await writeRunRecord(env.log, { ...replayRun(v3), endMs: Date.now(), exit: { reason: 'idle' } });
    expect(await versions([])).toEqual({ start: [3], waiting: [2] });
  });

  it('does not start a version recorded with another fingerprint than the code, and says so once', async () => {
    const name = 'fol-b';
    await checkVersion(env.log, v(name, 1));
    await setVersionState(env.log, name, 1, 'caught-up');
    const mismatches: string[][] = [];
    const follower = new VersionFollower({
      log: env.log,
      // the code's version 1 has one processor more than the recorded one
      defined: [delaysTopology({ name, version: 1, extraFilter: true })],
      onMismatch: (_t, changes) => mismatches.push([...changes]),
    });
    expect((await follower.check([])).start).toEqual([]);
    expect((await follower.check([])).start).toEqual([]);
    expect(mismatches).toHaveLength(1);
    expect(mismatches[0].length).toBeGreaterThan(0);
  });

  it('makes a running version at the end of its inputs caught-up, and live when the topology has none', async () => {
    const name = 'fol-c';
    const [v1, v2] = [v(name, 1), v(name, 2)];
    for (const t of [v1, v2]) await checkVersion(env.log, t);
    const follower = new VersionFollower({ log: env.log, defined: [v1, v2] });
    // nothing committed: 3,500 flights over 2 partitions are more than the caught-up bound (1,000 per partition) behind
    await loadFlightData({ log: env.log, registry: env.registry, skip: 500, limit: 3_000, partitions: 2 });
    expect(await follower.catchUp([v1, v2])).toEqual([]);
    const ends = await env.log.offsets('flights');
    const commit = async (t: Topology) => {
      const producer = env.log.producer({ transactionalId: `${t.groupId}-test` });
      try {
        const tx = await producer.transaction();
        const offsets: TopicPartitionOffset[] = ends.map((o) => ({
          topic: 'flights',
          partition: o.partition,
          offset: o.high,
        }));
        tx.sendOffsets(t.groupId, offsets);
        await tx.commit();
      } finally {
        await producer.close();
      }
    };
    await commit(v1);
    expect(await follower.catchUp([v1, v2])).toEqual([{ version: 1, state: 'live' }]);
    await commit(v2);
    // v1 is live: v2 only catches up
    expect(await follower.catchUp([v1, v2])).toEqual([{ version: 2, state: 'caught-up' }]);
    expect(liveVersionOf(await readVersions(env.log), name)).toBe(1);
  });
});
