/**
 * Records per second and ETA of a replaying version in `eddy versions` (src/replay/progress.ts, status.ts), measured
 * from the run records other processes write: run records written by the real `RunRecorder` on the embedded log,
 * read by `versionStatuses` and by the built CLI in another process.
 *
 * The clock (Date and setInterval) is faked so that the recorder's heartbeats fall exactly 30 s apart without waiting
 * a minute: a test double for time only, the recorder, the log and the CLI are real.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { readRunHistory } from '../../src/replay/progress.js';
import { checkVersion, readVersions } from '../../src/replay/registry.js';
import { versionStatuses } from '../../src/replay/status.js';
import { KILLED_AFTER_MS, RUNS_TOPIC } from '../../src/runs/record.js';
import { RunRecorder } from '../../src/runs/recorder.js';
import { RunStats } from '../../src/runtime/stats.js';
import { tempBackend } from '../helpers/backend.js';
import { CLI, cleanEnv, ROOT, until } from '../helpers/proc.js';
import { buildDelays } from '../helpers/versions.js';

const LIMIT = 2_000;
const HEARTBEAT_MS = 30_000;
const v1 = buildDelays(1, 15);
const v2 = buildDelays(2, 14);

/** The same topology names and inputs, as a module the built CLI loads. */
const MODULE = `
import { join } from 'node:path';
import { loadSchemas, topology } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
const s = loadSchemas(${JSON.stringify(join(ROOT, 'schemas'))});
function build(version) {
  const t = topology({ name: 'delays', version });
  t.source('flights', { key: 'string', value: s.get('Flight') })
    .to(t.output('delays-copy', { key: 'string', value: s.get('Flight') }), 'copy');
  return t.build();
}
export default [() => build(1), () => build(2)];
`;

describe('eddy versions: records/s and ETA of a replay from its run records', () => {
  const env = tempBackend('eddy-status-rate-');
  let lastUpdateMs = 0;
  let rec2: RunRecorder;

  /** Waits (real time) until the run of `version` has a record on the log with `n` flights read. */
  const recorded = (version: number, n: number) =>
    until(`a run record of v${version} with ${n} flights`, async () => {
      for (const recs of (await readRunHistory(env.log, 'delays')).values()) {
        const last = recs[recs.length - 1];
        if (last.version === version && (last.recordsIn.flights ?? 0) === n) return last;
      }
      return undefined;
    });

  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
    await checkVersion(env.log, v1);
    await checkVersion(env.log, v2); // both `replaying`, nothing committed: each lags by every flight
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    // the records end up ~1 s before the real now, so the CLI (real clock) sees a fresh open run
    vi.setSystemTime(Date.now() - 2 * HEARTBEAT_MS - 1_000);
    // v1: a run that ends after a heartbeat (below)
    const s1 = new RunStats();
    const rec1 = await RunRecorder.start(env.log, () => ({ versions: [{ topology: v1, stats: s1 }] }), {
      kind: 'replay',
      heartbeatMs: HEARTBEAT_MS,
      progressMs: HEARTBEAT_MS, // the rates below are of records written at the heartbeats
    });
    s1.in('flights', 1_000);
    // v2: an open run with two heartbeats, 600 flights in the first 30 s, 900 more in the next 30 s
    const s2 = new RunStats();
    rec2 = await RunRecorder.start(env.log, () => ({ versions: [{ topology: v2, stats: s2 }] }), {
      kind: 'replay',
      heartbeatMs: HEARTBEAT_MS,
      progressMs: HEARTBEAT_MS, // the rates below are of records written at the heartbeats
    });
    s2.in('flights', 600);
    s2.in('delays.v2.by_route.repartition', 5_000); // internal topics are not input records
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS);
    await recorded(2, 600);
    await rec1.finish({ idle: true }); // v1 ended 30 s in, after reading 1,000 flights (a rate, had it not ended)
    s2.in('flights', 900);
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS);
    lastUpdateMs = (await recorded(2, 1_500)).updatedMs;
    vi.useRealTimers();
  }, 120_000);
  afterAll(async () => {
    vi.useRealTimers();
    await rec2?.finish();
    await env.destroy();
  });

  it('an open run: records/s between its last two heartbeats, ETA = lag / records/s; a finished run: none', async () => {
    const rows = await versionStatuses(env.log, await readVersions(env.log), 'delays', [v1, v2], {
      nowMs: lastUpdateMs + 1_000,
    });
    const [r1, r2] = rows;
    expect(r2.state).toBe('replaying');
    expect(r2.lag.reduce((n, l) => n + l.lagRecords, 0)).toBe(LIMIT);
    expect(r2.recordsPerSecond).toBe(900 / 30);
    expect(r2.etaMs).toBe(Math.round((LIMIT / 30) * 1000));
    expect(r1.state).toBe('replaying');
    expect(r1.recordsPerSecond).toBeNull();
    expect(r1.etaMs).toBeNull();
  });

  it('a run not rewritten for longer than a killed run gives none', async () => {
    const [, r2] = await versionStatuses(env.log, await readVersions(env.log), 'delays', [v1, v2], {
      nowMs: lastUpdateMs + KILLED_AFTER_MS + 1,
    });
    expect(r2.recordsPerSecond).toBeNull();
    expect(r2.etaMs).toBeNull();
  });

  it('eddy versions in another process shows them (table and JSON)', () => {
    writeFileSync(join(env.dataDir, 'delays.mjs'), MODULE);
    writeFileSync(join(env.dataDir, 'eddy.config.json'), JSON.stringify({ topologies: { delays: './delays.mjs' } }));
    const run = (format: string) =>
      spawnSync(process.execPath, [CLI, '--data-dir', env.dataDir, 'versions', 'delays', '--format', format], {
        cwd: env.dataDir,
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: 60_000,
      });
    const json = run('json');
    expect(json.stderr).toBe('');
    const rows = JSON.parse(json.stdout) as {
      version: number;
      recordsPerSecond: number | null;
      etaMs: number | null;
    }[];
    expect(rows.map((r) => [r.version, r.recordsPerSecond, r.etaMs])).toEqual([
      [1, null, null],
      [2, 30, Math.round((LIMIT / 30) * 1000)],
    ]);
    const table = run('table');
    expect(table.status).toBe(0);
    const lines = table.stdout.split('\n');
    const header = lines.find((l) => l.includes('records/s'))!;
    expect(header).toMatch(/eta/);
    const cells = (l: string) => l.split('│').map((c) => c.trim());
    const col = (l: string, name: string) => cells(l)[cells(header).indexOf(name)];
    const row = (v: number) => lines.find((l) => cells(l)[1] === String(v))!;
    expect(col(row(2), 'records/s')).toBe('30');
    expect(col(row(2), 'eta')).toBe('1m07s');
    expect(col(row(1), 'records/s')).toBe('-');
    expect(col(row(1), 'eta')).toBe('-');
  }, 120_000);

  it('with only the last record left (the topic compacted): records/s over the run', async () => {
    await env.log.compact(RUNS_TOPIC);
    const [, r2] = await versionStatuses(env.log, await readVersions(env.log), 'delays', [v1, v2], {
      nowMs: lastUpdateMs + 1_000,
    });
    expect(r2.recordsPerSecond).toBe(1_500 / 60);
    expect(r2.etaMs).toBe(Math.round((LIMIT / 25) * 1000));
  });

  it('once the run ends, none', async () => {
    await rec2.finish({ idle: true });
    const [, r2] = await versionStatuses(env.log, await readVersions(env.log), 'delays', [v1, v2]);
    expect(r2.recordsPerSecond).toBeNull();
    expect(r2.etaMs).toBeNull();
  });
});
