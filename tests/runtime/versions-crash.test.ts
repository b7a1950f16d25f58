/**
 * Fault test for several versions in one process: `eddy run` with flight-delays v1 live (catching up on new input)
 * and v2 replaying from the start, both through one read of the input, is SIGKILLed three times mid-run and
 * restarted; both versions end identical (outputs, dead letters, stores) to uninterrupted runs of each version alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { packageRoot } from '../../src/util/paths.js';
import { openBackendAt, tempBackend } from '../helpers/backend.js';
import { type RunSnapshot, snapshot } from '../helpers/snapshot.js';

const FIRST = 20_000;
const MORE = 40_000;
const CLI = join(packageRoot(import.meta.url), 'dist', 'src', 'cli', 'main.js');
const [v1, v2] = flightDelaysVersions();

function eddy(
  dataDir: string,
  args: string[],
): { child: ChildProcess; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [CLI, '--data-dir', dataDir, ...args, '--no-progress', '--max-batch-records', '1000'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, stderr: () => err };
}

/** Input records committed by each version (sum of its group's committed offsets on `flights`). */
async function committed(dataDir: string): Promise<{ v1: number; v2: number }> {
  const env = openBackendAt(dataDir);
  try {
    const sum = async (group: string) => {
      let n = 0;
      for (const c of (await env.log.committedOffsets(group, 'flights')).values()) n += c.offset;
      return n;
    };
    return { v1: await sum(v1.groupId), v2: await sum(v2.groupId) };
  } finally {
    await env.close();
  }
}

describe('SIGKILL a worker running v1 live and v2 replaying, 3 times: both end as uninterrupted runs', () => {
  const reference = tempBackend('eddy-vref-');
  const crashed = tempBackend('eddy-vcrash-');
  const expected: Record<number, RunSnapshot> = {};

  beforeAll(async () => {
    for (const env of [reference, crashed]) {
      await loadFlightData({ log: env.log, registry: env.registry, limit: FIRST });
      await loadFlightData({ log: env.log, registry: env.registry, skip: FIRST, limit: MORE, flightSchemaVersion: 2 });
    }
    for (const t of [v1, v2]) {
      await new TopologyRunner(t, {
        log: reference.log,
        registry: reference.registry,
        stateDir: reference.stateDir,
        untilIdle: true,
        maxBatchRecords: 1000,
      }).run();
      expected[t.version] = await snapshot(reference.log, reference.registry, reference.stateDir, t);
    }
    await crashed.close();
  }, 600_000);
  afterAll(async () => {
    await reference.destroy();
    await crashed.destroy().catch(() => undefined);
  });

  it('v1 live on the first input, then v1 and v2 in one process killed 3 times; both equal the references', async () => {
    // v1 runs on the first slice only: it is live, and then has MORE records to catch up on.
    const env = openBackendAt(crashed.dataDir);
    try {
      await new TopologyRunner(v1, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
        maxBatchRecords: 1000,
      }).run();
    } finally {
      await env.close();
    }
    // v2 joins the registry by starting a replay; killed at once, it is `replaying` from then on.
    const start = eddy(crashed.dataDir, ['replay', 'flight-delays', '--version', '2']);
    for (;;) {
      if ((await committed(crashed.dataDir)).v2 > 0) break;
      const done = await Promise.race([
        start.exit.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 20)),
      ]);
      if (done) throw new Error(`replay ended before it could be killed: ${start.stderr()}`);
    }
    start.child.kill('SIGKILL');
    await start.exit;

    const kills: { v1: number; v2: number }[] = [];
    for (const threshold of [15_000, 30_000, 45_000]) {
      const run = eddy(crashed.dataDir, ['run', 'flight-delays', '--until-idle']);
      for (;;) {
        const n = await committed(crashed.dataDir);
        if (n.v2 >= threshold) {
          run.child.kill('SIGKILL');
          kills.push(n);
          break;
        }
        const done = await Promise.race([
          run.exit.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 20)),
        ]);
        if (done) throw new Error(`run finished before it could be killed at ${threshold}: ${run.stderr()}`);
      }
      expect(await run.exit).toBe(null);
    }
    const last = eddy(crashed.dataDir, ['run', 'flight-delays', '--until-idle']);
    expect(await last.exit, last.stderr()).toBe(0);
    expect(kills).toHaveLength(3);
    expect(kills[2].v2).toBeLessThan(FIRST + MORE);

    const after = openBackendAt(crashed.dataDir);
    try {
      for (const t of [v1, v2]) {
        const got = await snapshot(after.log, after.registry, after.stateDir, t);
        expect(got.topics, `v${t.version} topics`).toEqual(expected[t.version].topics);
        expect(got.stores, `v${t.version} stores`).toEqual(expected[t.version].stores);
      }
      expect(await committed(crashed.dataDir)).toEqual({ v1: FIRST + MORE, v2: FIRST + MORE });
    } finally {
      await after.close();
    }
  }, 600_000);
});
