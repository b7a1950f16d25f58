/**
 * `eddy retire <topology> N --yes` beside a real `eddy worker` process (embedded log): the worker stops running N
 * (it reads the versions registry every few seconds), retire waits for that (the worker ends N's run record), then
 * deletes N's topics, group and state; the worker goes on with its other version, or exits 0 with event `retired`
 * when none is left. A worker SIGKILLed with N open does not hold retire up (its run record is dead).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { getVersion, setVersionState } from '../../src/replay/registry.js';
import { readRuns } from '../../src/runs/record.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { openBackendAt, tempBackend } from '../helpers/backend.js';
import { eddy, type Proc, until } from '../helpers/proc.js';

const FIRST = 3_000;
const MORE = 2_000;
const [v1, v2] = flightDelaysVersions();
const procs: Proc[] = [];
const dirs: string[] = [];

/** A data directory where v1 and v2 of flight-delays ran over the first flights; v2 is live, v1 is not. */
async function twoVersions(): Promise<string> {
  const env = tempBackend('eddy-retire-');
  dirs.push(env.dataDir);
  try {
    await loadFlightData({ log: env.log, registry: env.registry, limit: FIRST });
    for (const t of [v1, v2])
      await new TopologyRunner(t, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
        maxBatchRecords: 1000,
      }).run();
    await setVersionState(env.log, 'flight-delays', 2, 'live');
    expect((await getVersion(env.log, 'flight-delays', 1)).state).not.toBe('retired');
  } finally {
    await env.close();
  }
  return env.dataDir;
}

/** Runs `fn` on the data directory's log (opened and closed around it). */
async function withLog<T>(dataDir: string, fn: (env: ReturnType<typeof openBackendAt>) => Promise<T>): Promise<T> {
  const env = openBackendAt(dataDir);
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}

/** The topics of version `n` of flight-delays (internal `flight-delays.v<n>.*` and outputs `*.v<n>`). */
async function topicsOf(dataDir: string, n: number): Promise<string[]> {
  return withLog(dataDir, async (env) =>
    (await env.log.listTopics()).map((t) => t.name).filter((name) => new RegExp(`\\.v${n}(\\.|$)`).test(name)),
  );
}

async function committedInput(dataDir: string, group: string): Promise<number> {
  return withLog(dataDir, async (env) => {
    let n = 0;
    for (const c of (await env.log.committedOffsets(group, 'flights')).values()) n += c.offset;
    return n;
  });
}

async function outputRecords(dataDir: string, topic: string): Promise<number> {
  return withLog(dataDir, async (env) => (await env.log.offsets(topic)).reduce((n, o) => n + o.high, 0));
}

function worker(dataDir: string, args: string[] = []): Proc {
  const p = eddy(['--data-dir', dataDir, 'worker', 'flight-delays', ...args], { EDDY_HTTP_PORT: '0' });
  procs.push(p);
  return p;
}

function retireCli(dataDir: string, args: string[] = []): Proc {
  const p = eddy(['--data-dir', dataDir, 'retire', 'flight-delays', '1', '--yes', ...args]);
  procs.push(p);
  return p;
}

function output(p: Proc): string {
  return p.lines.map((l) => l.msg ?? JSON.stringify(l)).join('\n');
}

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exit));
  const { rmSync } = await import('node:fs');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('eddy retire beside a running worker (embedded log, real processes)', () => {
  it('stops v1 in a worker running v1 and v2, deletes v1, and the worker goes on with v2; v1 is never recreated', async () => {
    const dataDir = await twoVersions();
    const hourly2 = [...v2.topics.values()].find((t) => t.role === 'output')!.name;
    expect((await topicsOf(dataDir, 1)).length).toBeGreaterThan(0);
    const w = worker(dataDir);
    await w.waitFor((l) => l.event === 'ready');
    // two versions: each in its own thread (worker.versionThreads, the default)
    expect(w.lines.find((l) => l.event === 'start')).toMatchObject({ versions: [1, 2], versionThreads: true });

    const r = retireCli(dataDir);
    const exit = await r.exit;
    expect(exit.code, `${output(r)}\n${r.stderr()}`).toBe(0);
    // it waited for the worker's run of v1 to end before deleting
    expect(output(r)).toMatch(/waiting for 1 process\(es\) to stop running it/);
    expect(output(r)).toMatch(/flight-delays version 1 is retired\./);
    const retired = await w.waitFor((l) => l.event === 'retired');
    expect(retired.versions).toEqual([1]);
    expect(retired.remaining).toEqual([2]);
    expect(await topicsOf(dataDir, 1)).toEqual([]);
    expect(existsSync(join(dataDir, 'state', 'flight-delays.v1'))).toBe(false);
    expect(await committedInput(dataDir, v1.groupId)).toBe(0);
    await withLog(dataDir, async (env) =>
      expect((await getVersion(env.log, 'flight-delays', 1)).state).toBe('retired'),
    );

    // v2 keeps processing: more input, more v2 output; v1's topics stay gone.
    const before = await outputRecords(dataDir, hourly2);
    await withLog(dataDir, (env) => loadFlightData({ log: env.log, registry: env.registry, skip: FIRST, limit: MORE }));
    await until('v2 consumed the new input', async () =>
      (await committedInput(dataDir, v2.groupId)) === FIRST + MORE ? true : undefined,
    );
    expect(await outputRecords(dataDir, hourly2)).toBeGreaterThan(before);
    expect(await topicsOf(dataDir, 1)).toEqual([]);
    expect(await committedInput(dataDir, v1.groupId)).toBe(0);
    expect(w.lines.some((l) => l.event === 'error')).toBe(false);

    w.child.kill('SIGTERM');
    expect((await w.exit).code).toBe(0);
    expect(await topicsOf(dataDir, 1)).toEqual([]);
  }, 300_000);

  it('eddy run running v1 and v2 stops v1 when it is retired and goes on with v2', async () => {
    const dataDir = await twoVersions();
    const run = eddy(['--data-dir', dataDir, 'run', 'flight-delays', '--no-progress']);
    procs.push(run);
    // Retire once the run has recorded that it runs v1 (otherwise it would not start v1 at all).
    await until('the run records v1', async () =>
      withLog(dataDir, async (env) =>
        (await readRuns(env.log, 'flight-delays')).some((r) => r.version === 1 && r.status === 'running')
          ? true
          : undefined,
      ),
    );
    const r = retireCli(dataDir);
    expect((await r.exit).code, `${output(r)}\n${r.stderr()}`).toBe(0);
    expect(await topicsOf(dataDir, 1)).toEqual([]);
    await withLog(dataDir, (env) => loadFlightData({ log: env.log, registry: env.registry, skip: FIRST, limit: MORE }));
    await until('v2 consumed the new input', async () =>
      (await committedInput(dataDir, v2.groupId)) === FIRST + MORE ? true : undefined,
    );
    run.child.kill('SIGTERM');
    expect((await run.exit).code, run.stderr()).toBe(0);
    const text = output(run);
    expect(text).toContain(
      'flight-delays: version 1 was retired (eddy retire): stopped running it; going on with version 2',
    );
    expect(await topicsOf(dataDir, 1)).toEqual([]);
    expect(await committedInput(dataDir, v1.groupId)).toBe(0);
  }, 300_000);

  it('a worker running only v1 exits 0 with event retired', async () => {
    const dataDir = await twoVersions();
    const w = worker(dataDir, ['--version', '1']);
    await w.waitFor((l) => l.event === 'ready');
    const r = retireCli(dataDir);
    expect((await r.exit).code, `${output(r)}\n${r.stderr()}`).toBe(0);
    const retired = await w.waitFor((l) => l.event === 'retired');
    expect(retired.remaining).toEqual([]);
    expect((await w.exit).code).toBe(0);
    expect(await topicsOf(dataDir, 1)).toEqual([]);
    expect((await topicsOf(dataDir, 2)).length).toBeGreaterThan(0);
  }, 300_000);

  it('a SIGKILLed worker that left v1 open does not hold retire up', async () => {
    const dataDir = await twoVersions();
    const w = worker(dataDir, ['--version', '1']);
    await w.waitFor((l) => l.event === 'ready');
    // its run record of v1 is written (open) once the worker started
    await until('an open run record of v1', async () =>
      withLog(dataDir, async (env) => {
        const { readRuns } = await import('../../src/runs/record.js');
        return (await readRuns(env.log, 'flight-delays')).some((x) => x.version === 1 && x.endMs === undefined)
          ? true
          : undefined;
      }),
    );
    w.child.kill('SIGKILL');
    await w.exit;
    // A bound far above the test's own timeout: waiting on the dead run would fail the test, not slow it.
    const r = retireCli(dataDir, ['--wait-ms', '600000']);
    expect((await r.exit).code, `${output(r)}\n${r.stderr()}`).toBe(0);
    expect(output(r)).not.toMatch(/waiting for/);
    expect(await topicsOf(dataDir, 1)).toEqual([]);
  }, 120_000);
});
