/**
 * The versions registry on a real log: run by registry.test.ts (embedded) and registry.kafka.test.ts (a real broker).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Log } from '../../src/log/contract.js';
import { FingerprintMismatchError, PositionsBackwardError, VersionStateError } from '../../src/replay/errors.js';
import {
  checkVersion,
  getVersion,
  liveVersionOf,
  readVersions,
  recordPositions,
  setVersionState,
  VERSIONS_TOPIC,
  VersionsTail,
  versionsOf,
} from '../../src/replay/registry.js';
import { delaysTopology } from './helpers.js';

export function registrySuite(
  backend: string,
  open: () => Promise<{ log: Log; name: string; destroy(): Promise<void> }>,
): void {
  describe(`versions registry (${backend})`, () => {
    let env: Awaited<ReturnType<typeof open>>;
    beforeAll(async () => {
      env = await open();
    });
    afterAll(async () => env?.destroy());

    it('records a new version as replaying, then accepts the same code again', async () => {
      const t = delaysTopology({ name: env.name });
      const rec = await checkVersion(env.log, t, { processingGuarantee: 'exactly-once', nowMs: 1000 });
      expect(rec).toMatchObject({
        topology: env.name,
        version: 1,
        state: 'replaying',
        stateSinceMs: { replaying: 1000 },
        positions: {},
      });
      expect(rec.schemas.map((s) => s.subject)).toContain(`${env.name}.v1.route_stats.changelog-value`);
      const again = await checkVersion(env.log, delaysTopology({ name: env.name }), {
        processingGuarantee: 'exactly-once',
      });
      expect(again.fingerprint.hash).toBe(rec.fingerprint.hash);
      const d = await env.log.describeTopic(VERSIONS_TOPIC);
      expect(d).toMatchObject({ partitions: 1, compacted: true });
    });

    it.each([
      [
        'a window change',
        'w',
        { windowMs: 604_800_000 },
        'window size of by_airport_hour changed 3600000 ms → 604800000 ms',
      ],
      ['a store schema change', 's', { p60: true }, 'value schema of store route_stats changed (field p60 added)'],
      ['an operator added', 'o', { extraFilter: true }, 'operator added: filter "x"'],
    ])(
      'refuses %s under the same version, naming it and the fix; accepts it as version 2',
      async (_what, suffix, change, words) => {
        const name = `${env.name}-${suffix}`;
        await checkVersion(env.log, delaysTopology({ name }), {});
        const before = (await readVersions(env.log)).versions.size;
        let err: unknown;
        try {
          await checkVersion(env.log, delaysTopology({ name, ...change }), {});
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(FingerprintMismatchError);
        expect((err as Error).message).toContain(words);
        expect((err as Error).message).toContain(`bump the version to 2 and run \`eddy replay ${name} --version 2\``);
        expect((await readVersions(env.log)).versions.size).toBe(before);
        const v2 = await checkVersion(env.log, delaysTopology({ name, version: 2, ...change }), {});
        expect(v2.state).toBe('replaying');
        expect((await getVersion(env.log, name, 1)).state).toBe('replaying');
      },
    );

    it('moves states forward only and records when each began', async () => {
      const name = env.name;
      await setVersionState(env.log, name, 1, 'caught-up', 2000);
      await setVersionState(env.log, name, 1, 'live', 3000);
      expect(liveVersionOf(await readVersions(env.log), name)).toBe(1);
      await expect(setVersionState(env.log, name, 1, 'replaying')).rejects.toBeInstanceOf(VersionStateError);
      await expect(setVersionState(env.log, name, 1, 'caught-up')).rejects.toThrow(
        /v?1 is live; it cannot become caught-up/,
      );
      const rec = await getVersion(env.log, name, 1);
      expect(rec.state).toBe('live');
      expect(rec.stateSinceMs).toEqual({ replaying: 1000, 'caught-up': 2000, live: 3000 });
    });

    it('never moves positions backwards: the attempt is refused and nothing is written', async () => {
      const name = env.name;
      await recordPositions(env.log, name, 1, { 'flights:0': 10, 'flights:1': 5 });
      await recordPositions(env.log, name, 1, { 'flights:0': 12 });
      await expect(recordPositions(env.log, name, 1, { 'flights:0': 11, 'flights:1': 6 })).rejects.toBeInstanceOf(
        PositionsBackwardError,
      );
      await expect(recordPositions(env.log, name, 1, { 'flights:1': 4 })).rejects.toThrow('flights:1 5 → 4');
      expect((await getVersion(env.log, name, 1)).positions).toEqual({ 'flights:0': 12, 'flights:1': 5 });
    });

    it('writes nothing when the positions did not move (an idle worker does not grow the registry)', async () => {
      const name = env.name;
      const end = async () => (await env.log.offsets(VERSIONS_TOPIC))[0].high;
      const before = await end();
      const rec = await recordPositions(env.log, name, 1, { 'flights:0': 12, 'flights:1': 5 });
      expect(rec.positions).toEqual({ 'flights:0': 12, 'flights:1': 5 });
      expect(await end()).toBe(before);
      await recordPositions(env.log, name, 1, { 'flights:0': 13 });
      expect(await end()).toBeGreaterThan(before);
    });

    it('a tail of the registry sees what was appended since its last refresh', async () => {
      const name = `${env.name}-tail`;
      // Counts the registry records the tail reads (the real log underneath).
      let read = 0;
      const counting = Object.create(env.log) as Log;
      counting.read = async function* (tp, o) {
        for await (const b of env.log.read(tp, o)) {
          read += b.length;
          yield b;
        }
      };
      const tail = new VersionsTail(counting);
      const first = await tail.refresh();
      expect(first.versions.has(`${name}.v1`)).toBe(false);
      const t = delaysTopology({ name });
      await checkVersion(env.log, t, { processingGuarantee: 'exactly-once', nowMs: 1000 });
      expect((await tail.refresh()).versions.get(`${name}.v1`)?.state).toBe('replaying');
      await setVersionState(env.log, name, 1, 'caught-up', 2000);
      await setVersionState(env.log, name, 1, 'live', 3000);
      read = 0;
      const snap = await tail.refresh();
      expect(read).toBeLessThanOrEqual(3); // the version twice and the topology's live version, not the whole topic
      expect(snap.versions.get(`${name}.v1`)?.state).toBe('live');
      expect(liveVersionOf(snap, name)).toBe(1);
      // The same view as a full read.
      const full = await readVersions(env.log);
      expect([...snap.versions.entries()]).toEqual([...full.versions.entries()]);
      expect([...snap.topologies.entries()]).toEqual([...full.topologies.entries()]);
      // Overlapping refreshes (a runner's retired check and its sync) run one after the other: each record read once.
      await setVersionState(env.log, name, 1, 'retired', 4000);
      read = 0;
      const [a, b] = await Promise.all([tail.refresh(), tail.refresh()]);
      expect(read).toBe(1);
      expect(a.versions.get(`${name}.v1`)?.state).toBe('retired');
      expect(b.versions.get(`${name}.v1`)?.state).toBe('retired');
    });

    it('promoting a version supersedes the one live before: exactly one live; a superseded one can be promoted back', async () => {
      const name = `${env.name}-sup`;
      const live = async () =>
        versionsOf(await readVersions(env.log), name)
          .filter((v) => v.state === 'live')
          .map((v) => v.version);
      for (const version of [1, 2]) {
        await checkVersion(env.log, delaysTopology({ name, version, delayedMin: 14 + version }), { nowMs: 1000 });
        await setVersionState(env.log, name, version, 'caught-up', 2000);
      }
      await setVersionState(env.log, name, 1, 'live', 3000);
      await setVersionState(env.log, name, 2, 'live', 4000);
      expect(await live()).toEqual([2]);
      expect(liveVersionOf(await readVersions(env.log), name)).toBe(2);
      const v1 = await getVersion(env.log, name, 1);
      expect(v1.state).toBe('superseded');
      expect(v1.stateSinceMs).toEqual({ replaying: 1000, 'caught-up': 2000, live: 3000, superseded: 4000 });
      // superseded moves on to retired, or back to live (a roll-back, which supersedes the live one), nowhere else
      await expect(setVersionState(env.log, name, 1, 'caught-up')).rejects.toBeInstanceOf(VersionStateError);
      await setVersionState(env.log, name, 1, 'live', 5000);
      expect(await live()).toEqual([1]);
      expect((await getVersion(env.log, name, 2)).state).toBe('superseded');
      expect(liveVersionOf(await readVersions(env.log), name)).toBe(1);
      await setVersionState(env.log, name, 2, 'retired', 6000);
      expect(await live()).toEqual([1]);
    });

    it('keeps the latest record per key after compaction', async () => {
      await env.log.compact(VERSIONS_TOPIC);
      const snap = await readVersions(env.log);
      expect(versionsOf(snap, env.name).map((v) => [v.version, v.state])).toEqual([[1, 'live']]);
      expect(versionsOf(snap, `${env.name}-w`).map((v) => [v.version, v.state])).toEqual([
        [1, 'replaying'],
        [2, 'replaying'],
      ]);
      expect(snap.versions.get(`${env.name}.v1`)!.positions).toEqual({ 'flights:0': 13, 'flights:1': 5 });
    });
  });
}
