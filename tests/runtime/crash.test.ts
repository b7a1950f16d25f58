/**
 * Fault test: a real `eddy run` process is killed with SIGKILL mid-run three times and restarted; the stores and the
 * output and dead-letter topics end identical to an uninterrupted run (no record lost, none doubled).
 * Then the rebuild test: delete the state directory, run again, and the stores are rebuilt identical from their
 * changelogs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { packageRoot } from '../../src/util/paths.js';
import { openBackendAt, tempBackend } from '../helpers/backend.js';
import { type RunSnapshot, snapshot } from '../helpers/snapshot.js';

const LIMIT = 120_000;
const CLI = join(packageRoot(import.meta.url), 'dist', 'src', 'cli', 'main.js');

function startRun(dataDir: string): { child: ChildProcess; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--data-dir',
      dataDir,
      'run',
      'flight-delays',
      '--until-idle',
      '--no-progress',
      '--max-batch-records',
      '1000',
    ],
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

async function committed(dataDir: string): Promise<number> {
  const env = openBackendAt(dataDir);
  try {
    let n = 0;
    for (const v of (await env.log.committedOffsets('flight-delays.v1', 'flights')).values()) n += v.offset;
    return n;
  } finally {
    await env.close();
  }
}

describe('SIGKILL mid-run, restart: identical to an uninterrupted run', () => {
  const topology = buildFlightDelays();
  const reference = tempBackend('eddy-ref-');
  const crashed = tempBackend('eddy-crash-');
  let expected: RunSnapshot;

  beforeAll(async () => {
    for (const env of [reference, crashed])
      await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
    await new TopologyRunner(topology, {
      log: reference.log,
      registry: reference.registry,
      stateDir: reference.stateDir,
      untilIdle: true,
      maxBatchRecords: 1000,
    }).run();
    expected = await snapshot(reference.log, reference.registry, reference.stateDir, topology);
    await crashed.close();
  }, 300_000);
  afterAll(async () => {
    await reference.destroy();
    rmSync(crashed.dataDir, { recursive: true, force: true });
  });

  it('kills the worker 3 times mid-batch, restarts it, and ends identical', async () => {
    const kills: number[] = [];
    for (const threshold of [20_000, 50_000, 80_000]) {
      const run = startRun(crashed.dataDir);
      for (;;) {
        const n = await committed(crashed.dataDir);
        if (n >= threshold) {
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
      expect(await run.exit).toBe(null); // killed by the signal
    }
    const last = startRun(crashed.dataDir);
    expect(await last.exit, last.stderr()).toBe(0);
    expect(kills.length).toBe(3);
    expect(kills[2]).toBeLessThan(LIMIT);

    const env = openBackendAt(crashed.dataDir);
    try {
      const got = await snapshot(env.log, env.registry, env.stateDir, topology);
      expect(got.topics).toEqual(expected.topics);
      expect(got.stores).toEqual(expected.stores);
    } finally {
      await env.close();
    }
  }, 600_000);

  it('deleting the state directory and restarting rebuilds identical stores from the changelogs', async () => {
    rmSync(join(crashed.dataDir, 'state'), { recursive: true, force: true });
    const run = startRun(crashed.dataDir);
    expect(await run.exit, run.stderr()).toBe(0);
    const env = openBackendAt(crashed.dataDir);
    try {
      const got = await snapshot(env.log, env.registry, env.stateDir, topology);
      expect(got.stores).toEqual(expected.stores);
      expect(got.topics).toEqual(expected.topics);
    } finally {
      await env.close();
    }
  }, 600_000);
});
