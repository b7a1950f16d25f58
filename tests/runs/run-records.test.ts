/**
 * Run records (`eddy.meta.runs`, `eddy runs`) as a user meets them: the built CLI on an embedded log in a temp
 * directory. A finished `eddy run`, a worker stopped by SIGTERM and a worker killed with SIGKILL each leave one record
 * per version, with the exit reason, the input positions at start and end, the counters and the fingerprint the
 * versions registry holds.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { readVersions } from '../../src/replay/registry.js';
import type { ListedRun } from '../../src/runs/record.js';
import { openBackendAt } from '../helpers/backend.js';
import { CLI, cleanEnv, eddy, type Proc } from '../helpers/proc.js';

const LIMIT = 3_000;

describe('run records (embedded log, real processes)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'eddy-runs-'));
  const running: Proc[] = [];
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, '--data-dir', dataDir, ...args], {
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const runs = (): ListedRun[] => {
    const r = cli(['runs', 'flight-delays', '--format', 'json']);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as ListedRun[];
  };
  const sum = (m: Readonly<Record<string, number>> | undefined) => Object.values(m ?? {}).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    const env = openBackendAt(dataDir);
    try {
      await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT, partitions: 2 });
    } finally {
      await env.close();
    }
  }, 120_000);
  afterAll(() => {
    for (const p of running) p.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('eddy run --until-idle records its run: exit idle, positions from 0 to the end, counters, fingerprint', async () => {
    expect(cli(['runs', 'flight-delays']).stdout).toMatch(/no runs of flight-delays/);
    const run = cli(['run', 'flight-delays', '--until-idle', '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
    const [r] = runs();
    expect(r.kind).toBe('run');
    expect(r.status).toBe('idle');
    expect(r.exit).toEqual({ reason: 'idle' });
    expect(r.endMs).toBeGreaterThanOrEqual(r.startMs);
    expect(sum(r.positionsAtStart)).toBe(0);
    const flightsAtEnd = Object.entries(r.positionsAtEnd ?? {}).filter(([tp]) => tp.startsWith('flights:'));
    expect(flightsAtEnd.map(([, o]) => o).reduce((a, b) => a + b, 0)).toBe(LIMIT);
    expect(r.recordsIn.flights).toBe(LIMIT);
    expect(r.health.inputRecords).toBeGreaterThanOrEqual(LIMIT);
    const dlq = r.recordsOut['flight-delays.v1.dlq'] ?? 0;
    expect(sum(r.deadLetters)).toBe(dlq);
    expect(r.health.deadLetterRatio).toBeCloseTo(dlq / r.health.inputRecords, 10);
    expect(r.health.outputs['airport-delays-hourly.v1'].records).toBe(r.recordsOut['airport-delays-hourly.v1']);
    const env = openBackendAt(dataDir);
    try {
      const rec = (await readVersions(env.log)).versions.get('flight-delays.v1');
      expect(r.fingerprint).toBe(rec?.fingerprint.hash);
    } finally {
      await env.close();
    }
    const table = cli(['runs', 'flight-delays']).stdout;
    expect(table).toContain(r.runId);
    expect(table).toContain('idle');
  }, 180_000);

  it('eddy replay records its run of the replayed version', () => {
    const before = runs().length;
    const r = cli(['replay', 'flight-delays', '--version', '2', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    const all = runs();
    expect(all).toHaveLength(before + 1);
    const rec = all[all.length - 1];
    expect(rec).toMatchObject({ kind: 'replay', version: 2, status: 'idle' });
    expect(rec.recordsIn.flights).toBe(LIMIT);
    expect(rec.runId).toMatch(/^flight-delays\.v2@/);
  }, 180_000);

  it('a worker stopped by SIGTERM records exit signal SIGTERM; one killed with SIGKILL shows as killed, with no end', async () => {
    const before = runs();
    const end = before.filter((r) => r.version === 1 && r.kind === 'run')[0].positionsAtEnd;
    const w = eddy(['--data-dir', dataDir, 'worker', 'flight-delays'], { EDDY_HTTP_PORT: '0' });
    running.push(w);
    await w.waitFor((l) => l.event === 'ready');
    w.child.kill('SIGTERM');
    expect((await w.exit).code).toBe(0);
    // the worker runs every version not retired: v1 (live) and v2 (caught up by the replay), one record each
    const termed = runs().filter((r) => !before.some((b) => b.runId === r.runId));
    expect(termed.map((r) => r.version).sort()).toEqual([1, 2]);
    for (const r of termed) {
      expect(r.kind).toBe('worker');
      expect(r.exit).toEqual({ reason: 'signal', signal: 'SIGTERM' });
    }
    expect(termed.find((r) => r.version === 1)?.positionsAtStart).toEqual(end);

    const k = eddy(['--data-dir', dataDir, 'worker', 'flight-delays'], { EDDY_HTTP_PORT: '0' });
    running.push(k);
    await k.waitFor((l) => l.event === 'ready');
    // the start record is written right after setup; wait until it is on the log
    const deadline = Date.now() + 30_000;
    while (runs().length < before.length + 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    k.child.kill('SIGKILL');
    expect((await k.exit).signal).toBe('SIGKILL');
    const killed = runs().filter((r) => r.pid === k.child.pid);
    expect(killed.map((r) => r.version).sort()).toEqual([1, 2]);
    for (const r of killed) {
      expect(r.kind).toBe('worker');
      expect(r.status).toBe('killed');
      expect(r.endMs).toBeUndefined();
      expect(r.exit).toBeUndefined();
    }
    expect(cli(['runs', 'flight-delays']).stdout).toMatch(/killed/);
  }, 180_000);
});
