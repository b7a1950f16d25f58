/**
 * A worker follows the versions registry on a real Kafka broker (issue 15, item 2), with one `eddy worker` process
 * running throughout: started on a namespace where nothing ran, it brings v1 to the end of its inputs and v1 becomes
 * live by itself; `eddy replay --version 2` beside it leaves v2 caught-up and the worker starts v2's tasks without a
 * restart; `eddy promote 2` leaves exactly one live version (v1 `superseded`) and says nothing more (a worker runs
 * v2); `eddy retire 1 --yes` stops v1's tasks and the worker goes on with v2 over new flights. v2's outputs and dead
 * letters (decoded, in offset order per partition), stores and committed positions then equal an uninterrupted run of
 * v2 alone over the same input in another namespace.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { getVersion, liveVersionOf, readVersions } from '../../src/replay/registry.js';
import { readRuns } from '../../src/runs/record.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import type { Topology } from '../../src/topology/graph.js';
import { committedSum, type Decoded, decodedSnapshot, eventually } from './helpers.js';
import { appendInvalidFlights, type VersionsNamespace, versionsNamespace } from './versions-helpers.js';

/** Flights before v2's replay, and flights that arrive after v1 was retired. */
const FIRST = 6_000;
const MORE = 6_000;
/** The flights, plus one invalid flight per partition (4) after the first ones: dead letters in both runs. */
const N = FIRST + 4 + MORE;
const BATCH = 500;

const MODULE = (ns: string, dist: string) =>
  `import { flightDelaysVersions } from ${JSON.stringify(join(dist, 'examples', 'flight-delays', 'topology.js'))};\n` +
  `export default flightDelaysVersions({ namespace: ${JSON.stringify(ns)} });\n`;

function namespace(): { n: VersionsNamespace; v1: Topology; v2: Topology } {
  const n = versionsNamespace('vfol', 'flight-delays', MODULE, { maxBatchRecords: BATCH });
  const [v1, v2] = flightDelaysVersions({ namespace: n.ns });
  return { n, v1, v2 };
}

describe('a worker follows replay, promote and retire on Kafka without a restart', () => {
  const made: VersionsNamespace[] = [];
  let expected: Decoded;

  beforeAll(async () => {
    const { n, v2 } = namespace();
    made.push(n);
    await n.load({ limit: FIRST });
    expect(await appendInvalidFlights(n)).toBe(4);
    await n.load({ skip: FIRST, limit: MORE });
    await new TopologyRunner(v2, {
      log: n.log,
      registry: n.registry,
      stateDir: join(n.dataDir, 'state'),
      untilIdle: true,
      maxBatchRecords: BATCH,
    }).run();
    expected = await decodedSnapshot(n.log, n.registry, join(n.dataDir, 'state'), v2);
    expect(expected.outputs.flat().length).toBeGreaterThan(100);
    expect(expected.deadLetters.flat().length).toBe(4);
    expect(expected.stores.route_stats.length).toBeGreaterThan(100);
  }, 600_000);

  afterAll(async () => {
    for (const n of made) await n.cleanup();
  });

  it('v1 live by itself, replay v2, promote 2, retire 1: one worker throughout; v2 equals an uninterrupted run', async () => {
    const { n, v1, v2 } = namespace();
    made.push(n);
    await n.load({ limit: FIRST });
    expect(await appendInvalidFlights(n)).toBe(4);
    const w = n.spawn(['worker', n.name]);
    expect((await w.waitFor((l) => l.event === 'start', 120_000)).versions).toEqual([1]);
    const alive = () => {
      if (w.child.exitCode !== null) throw new Error(`worker exited: ${w.stderr()}`);
    };

    // v1 alone reaches the end of its inputs (within the caught-up bound, 1,000 records per input partition): live
    // without `eddy replay` or `eddy promote`.
    await eventually(
      'v1 live at the end of its inputs',
      async () => {
        alive();
        return (
          liveVersionOf(await readVersions(n.log), n.name) === 1 &&
          (await committedSum(n.log, v1.groupId, n.topics.flights)) === FIRST + 4
        );
      },
      180_000,
      200,
    );

    // v2 replayed beside the worker; once caught up the worker runs it too, with a run record of its own.
    const replay = await n.cli(['replay', n.name, '--version', '2', '--no-progress']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`${v2.groupId}: caught up`);
    const follow = await w.waitFor((l) => l.event === 'follow' && Array.isArray(l.started), 120_000);
    expect(follow).toMatchObject({ started: [2], versions: [1, 2] });
    await eventually('an open worker run of v2', async () =>
      (await readRuns(n.log, n.name)).some((r) => r.version === 2 && r.kind === 'worker' && r.status === 'running'),
    );

    // promote: one live version, the previous one superseded, and no warning (the worker runs v2)
    const promote = await n.cli(['promote', n.name, '2']);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stderr).toBe('');
    expect(promote.stdout).toContain(`${n.name} version 2 is live (was version 1).`);
    const versions = await n.cli(['versions', n.name, '--format', 'json']);
    expect(versions.stderr).toBe('');
    const rows = JSON.parse(versions.stdout) as { version: number; state: string; live: boolean }[];
    expect(rows.map((r) => [r.version, r.state, r.live])).toEqual([
      [1, 'superseded', false],
      [2, 'live', true],
    ]);

    // retire 1: the worker stops v1's tasks and goes on with v2 over new flights
    const retire = await n.cli(['retire', n.name, '1', '--yes']);
    expect(retire.code, retire.stderr).toBe(0);
    expect(retire.stderr).toBe('');
    expect(retire.stdout).toContain(`${n.name} version 1 is retired.`);
    expect(await w.waitFor((l) => l.event === 'retired', 60_000)).toMatchObject({ versions: [1], remaining: [2] });
    await n.load({ skip: FIRST, limit: MORE });

    const snap = () => decodedSnapshot(n.log, n.registry, join(n.dataDir, 'state'), v2);
    await eventually(
      'v2 to equal the uninterrupted run',
      async () => {
        alive();
        return JSON.stringify(await snap()) === JSON.stringify(expected);
      },
      240_000,
      1_000,
    ).catch(() => undefined); // the comparison below shows the difference
    alive();
    expect(w.lines.filter((l) => l.event === 'error')).toEqual([]);
    w.child.kill('SIGTERM');
    expect((await w.exit).code, w.stderr()).toBe(0);

    const got = await snap();
    expect(got.outputs).toEqual(expected.outputs);
    expect(got.deadLetters).toEqual(expected.deadLetters);
    expect(got.stores).toEqual(expected.stores);
    expect(await committedSum(n.log, v2.groupId, n.topics.flights)).toBe(N);
    expect((await getVersion(n.log, n.name, 1)).state).toBe('retired');
    expect((await getVersion(n.log, n.name, 2)).state).toBe('live');
  }, 600_000);
});
