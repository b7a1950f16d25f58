/**
 * A worker follows the versions registry (issue 15, item 2), as a real `eddy worker` process on the embedded log
 * beside real `eddy replay`, `promote`, `retire` processes: started on a fresh log it brings v1 to the end of its
 * inputs and v1 becomes live by itself; `eddy replay --version 2` beside it leaves v2 caught-up and the worker starts
 * v2's tasks without a restart (with a run record of its own); `eddy promote 2` leaves exactly one live version and v1
 * `superseded`; `eddy retire 1 --yes` stops v1's tasks and the worker goes on with v2, never exiting. v2's outputs
 * and stores then equal an uninterrupted run of v2 over the same input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { getVersion, liveVersionOf, readVersions } from '../../src/replay/registry.js';
import { readRuns } from '../../src/runs/record.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { openBackendAt, tempBackend } from '../helpers/backend.js';
import { eddy, type Proc, until } from '../helpers/proc.js';
import { type RunSnapshot, snapshot } from '../helpers/snapshot.js';

const FIRST = 3_000;
const MORE = 2_000;
const [v1, v2] = flightDelaysVersions();
const procs: Proc[] = [];

async function withLog<T>(dataDir: string, fn: (env: ReturnType<typeof openBackendAt>) => Promise<T>): Promise<T> {
  const env = openBackendAt(dataDir);
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}

async function committedInput(dataDir: string, group: string): Promise<number> {
  return withLog(dataDir, async (env) => {
    let n = 0;
    for (const c of (await env.log.committedOffsets(group, 'flights')).values()) n += c.offset;
    return n;
  });
}

function cli(dataDir: string, args: string[]): Proc {
  const p = eddy(['--data-dir', dataDir, ...args], { EDDY_HTTP_PORT: '0' });
  procs.push(p);
  return p;
}

/**
 * Records as `snapshot` writes them, with the schema id of key and value (Confluent wire format: magic byte 0, then a
 * 4-byte id) blanked: the reference ran against another local registry, which numbered the same schemas otherwise.
 */
function withoutSchemaIds(topics: RunSnapshot['topics']): RunSnapshot['topics'] {
  const blank = (hex: string) => (hex.startsWith('00') && hex.length >= 10 ? `00id${hex.slice(10)}` : hex);
  return Object.fromEntries(
    Object.entries(topics).map(([topic, parts]) => [
      topic,
      parts.map((recs) =>
        recs.map((r) => {
          const [k, v, ...rest] = r.split('|');
          return [blank(k), blank(v), ...rest].join('|');
        }),
      ),
    ]),
  );
}

/** Waits for a CLI process to exit 0; returns its stdout. */
async function ok(p: Proc): Promise<string> {
  const exit = await p.exit;
  const out = p.lines.map((l) => l.msg ?? JSON.stringify(l)).join('\n');
  expect(exit.code, `${out}\n${p.stderr()}`).toBe(0);
  return out;
}

describe('a worker follows replay, promote and retire without a restart (embedded log, real processes)', () => {
  const reference = tempBackend('eddy-follow-ref-');
  const live = tempBackend('eddy-follow-');
  let expected: RunSnapshot;

  beforeAll(async () => {
    await loadFlightData({ log: reference.log, registry: reference.registry, limit: FIRST + MORE });
    await new TopologyRunner(v2, {
      log: reference.log,
      registry: reference.registry,
      stateDir: reference.stateDir,
      untilIdle: true,
      maxBatchRecords: 1000,
    }).run();
    expected = await snapshot(reference.log, reference.registry, reference.stateDir, v2);
    await loadFlightData({ log: live.log, registry: live.registry, limit: FIRST });
    await live.close();
  }, 300_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exit));
    await reference.destroy();
    await live.destroy().catch(() => undefined);
  });

  it('walks v1 live -> replay v2 -> promote 2 -> retire 1 with one worker running throughout', async () => {
    const dataDir = live.dataDir;
    const w = cli(dataDir, ['worker', 'flight-delays']);
    expect((await w.waitFor((l) => l.event === 'start')).versions).toEqual([1]);

    // v1, alone, reaches the end of its input: it becomes live by itself, without `eddy replay`.
    await until('v1 live', async () =>
      withLog(dataDir, async (env) =>
        liveVersionOf(await readVersions(env.log), 'flight-delays') === 1 ? true : undefined,
      ),
    );
    expect(await committedInput(dataDir, v1.groupId)).toBe(FIRST);

    // v2 replayed beside the running worker: caught up, then the worker starts its tasks.
    const replay = await ok(cli(dataDir, ['replay', 'flight-delays', '--version', '2', '--no-progress']));
    expect(replay).toContain('flight-delays.v2: caught up');
    const follow = await w.waitFor((l) => l.event === 'follow' && Array.isArray(l.started));
    expect(follow.started).toEqual([2]);
    expect(follow.versions).toEqual([1, 2]);
    await until('an open worker run of v2', async () =>
      withLog(dataDir, async (env) =>
        (await readRuns(env.log, 'flight-delays')).some(
          (r) => r.version === 2 && r.kind === 'worker' && r.status === 'running',
        )
          ? true
          : undefined,
      ),
    );

    // promote: exactly one live version, the previous one superseded; no warning (a worker runs v2)
    const promote = cli(dataDir, ['promote', 'flight-delays', '2']);
    const promoted = await ok(promote);
    expect(promoted).toContain('flight-delays version 2 is live (was version 1).');
    expect(promoted).toContain('Version 1 is superseded');
    expect(promote.stderr()).toBe('');
    const versions = cli(dataDir, ['versions', 'flight-delays', '--format', 'json']);
    const rows = JSON.parse(await ok(versions)) as {
      version: number;
      state: string;
      live: boolean;
    }[];
    expect(rows.map((r) => [r.version, r.state, r.live])).toEqual([
      [1, 'superseded', false],
      [2, 'live', true],
    ]);

    // retire 1: the worker stops v1's tasks and goes on with v2
    const retire = cli(dataDir, ['retire', 'flight-delays', '1', '--yes']);
    expect(await ok(retire)).toContain('flight-delays version 1 is retired.');
    expect(retire.stderr()).toBe('');
    const retired = await w.waitFor((l) => l.event === 'retired');
    expect(retired).toMatchObject({ versions: [1], remaining: [2] });

    await withLog(dataDir, (env) => loadFlightData({ log: env.log, registry: env.registry, skip: FIRST, limit: MORE }));
    await until('v2 consumed the new input', async () =>
      (await committedInput(dataDir, v2.groupId)) === FIRST + MORE ? true : undefined,
    );
    expect(w.child.exitCode).toBe(null);
    expect(w.lines.some((l) => l.event === 'error')).toBe(false);
    w.child.kill('SIGTERM');
    expect((await w.exit).code, w.stderr()).toBe(0);

    await withLog(dataDir, async (env) => {
      expect((await getVersion(env.log, 'flight-delays', 1)).state).toBe('retired');
      expect((await getVersion(env.log, 'flight-delays', 2)).state).toBe('live');
      const got = await snapshot(env.log, env.registry, env.stateDir, v2);
      expect(withoutSchemaIds(got.topics)).toEqual(withoutSchemaIds(expected.topics));
      expect(got.stores).toEqual(expected.stores);
    });
  }, 300_000);
});
