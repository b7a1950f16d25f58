/**
 * `eddy versions | replay | promote | retire | diff` as a user runs them: the built CLI (dist/, `npm test` builds it)
 * on an embedded log in a temp directory, with a topology module that default-exports two versions.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';

let dir: string;

function eddy(
  args: string[],
  env: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The module: v1 counts a flight as delayed above 15 min, v2 above 30; DELAYS_WINDOW_MS changes v1's window. */
const MODULE = `
import { join } from 'node:path';
import { loadSchemas, topology, tumbling } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
const s = loadSchemas(${JSON.stringify(join(ROOT, 'schemas'))});
function build(version, delayedMin) {
  const t = topology({ name: 'delays', version });
  const flights = t.source('flights', { key: 'string', value: s.get('Flight') });
  const add = (agg, f) => {
    agg.max_delay = agg.flights === 0 ? f.delay : Math.max(agg.max_delay, f.delay);
    agg.flights += 1;
    if (f.delay > delayedMin) agg.delayed += 1;
    agg.total_delay += f.delay;
    agg.avg_delay = agg.total_delay / agg.flights;
    return agg;
  };
  const empty = () => ({ flights: 0, delayed: 0, total_delay: 0, max_delay: 0, avg_delay: 0 });
  const windowMs = version === 1 && process.env.DELAYS_WINDOW_MS ? Number(process.env.DELAYS_WINDOW_MS) : 3600000;
  flights.groupByKey({ key: 'string' }).windowedBy(tumbling({ sizeMs: windowMs }))
    .aggregate('by_airport_hour', { value: s.get('DelayStats'), keyName: 'airport', initializer: empty, aggregator: add });
  flights.groupBy('route_stats', (r) => r.value.origin + '-' + r.value.destination, { key: 'string', value: s.get('Flight') })
    .aggregate('route_stats', { value: s.get('DelayStats'), keyName: 'route', initializer: empty, aggregator: add });
  return t.build();
}
export default [() => build(1, 15), () => build(2, 30)];
`;

describe('eddy versions, replay, promote, diff, retire (embedded, CLI)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eddy-cli-versions-'));
    writeFileSync(join(dir, 'delays.mjs'), MODULE);
    writeFileSync(join(dir, 'eddy.config.json'), JSON.stringify({ topologies: { delays: './delays.mjs' } }));
    const load = eddy(['load', '--limit', '3000', '--partitions', '2', '--no-progress']);
    expect(load.stderr).toBe('');
    expect(load.code).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replays v1 to the end and marks it caught up; v2 is listed as never run', () => {
    const r = eddy(['replay', 'delays', '--version', '1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('delays.v1: replayed 3000 input records');
    expect(r.stdout).toContain('delays.v1: caught up');
    const v = eddy(['versions', 'delays', '--format', 'json']);
    expect(v.code).toBe(0);
    const rows = JSON.parse(v.stdout) as {
      version: number;
      state?: string;
      live: boolean;
      recordsIn: number;
      lag: { lagRecords: number }[];
    }[];
    // the first version of a topology to catch up becomes live by itself (nothing to switch readers from)
    expect(rows.map((x) => [x.version, x.state ?? null, x.live])).toEqual([
      [1, 'live', true],
      [2, null, false],
    ]);
    expect(rows[0].recordsIn).toBe(3000);
    expect(rows[0].lag.map((l) => l.lagRecords)).toEqual([0, 0]);
    expect(rows[1].lag.reduce((n, l) => n + l.lagRecords, 0)).toBe(3000);
    const table = eddy(['versions', 'delays']);
    expect(table.stdout).toMatch(/│ 1 +│ live +│ live/);
  });

  it('refuses a changed window under version 1 before any write, naming the change and the fix', () => {
    const before = eddy(['topics', '--format', 'jsonl']).stdout;
    const r = eddy(['replay', 'delays', '--version', '1'], { DELAYS_WINDOW_MS: '604800000' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('window size of by_airport_hour changed 3600000 ms → 604800000 ms');
    expect(r.stderr).toContain('bump the version to 3 and run `eddy replay delays --version 3`');
    // eddy run (v1 only: v2 never ran) suggests a version free in the code too, not 2
    const run = eddy(['run', 'delays', '--until-idle', '--no-progress'], { DELAYS_WINDOW_MS: '604800000' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('bump the version to 3 and run `eddy replay delays --version 3`');
    expect(eddy(['topics', '--format', 'jsonl']).stdout).toBe(before);
  });

  it('inspect and sql read a changed window as recorded, and say that the code differs', () => {
    const env = { DELAYS_WINDOW_MS: '172800000' }; // 2 days in the code; the stores hold 1-hour windows
    const r = eddy(['inspect', 'by_airport_hour', '--version', '1', '--format', 'jsonl'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('note: the code of delays v1 differs from what its stores were written with');
    expect(r.stderr).toContain('window size of by_airport_hour changed 3600000 ms → 172800000 ms');
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { window_start: string; window_end: string });
    expect(rows.length).toBeGreaterThan(10);
    for (const w of rows) expect(Date.parse(w.window_end) - Date.parse(w.window_start)).toBe(3_600_000);
    const plain = eddy(['inspect', 'by_airport_hour', '--version', '1', '--format', 'jsonl']);
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toBe(r.stdout);
    const q = 'select window_start, window_end from by_airport_hour_v1';
    const sql = eddy(['sql', q, '--version', '1', '--format', 'jsonl'], env);
    expect(sql.code, sql.stderr).toBe(0);
    expect(sql.stderr).toContain('window size of by_airport_hour changed 3600000 ms → 172800000 ms');
    const got = sql.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { window_start: string | number; window_end: string | number });
    expect(got.length).toBe(rows.length);
    const ms = (v: string | number) => (typeof v === 'number' ? v : Date.parse(v));
    for (const w of got) expect(ms(w.window_end) - ms(w.window_start)).toBe(3_600_000);
  });

  it('refuses to promote a version that never ran, then replays v2, promotes it and names who follows v1', () => {
    const never = eddy(['promote', 'delays', '2']);
    expect(never.code).toBe(1);
    expect(never.stderr).toContain('delays has no version 2 (known: v1)');
    expect(eddy(['replay', 'delays', '--version', '2']).code).toBe(0);
    expect(eddy(['promote', 'delays', '1']).code).toBe(0);
    const p = eddy(['promote', 'delays', '2']);
    // no worker runs v2: readers follow it, nothing processes new input until one does
    expect(p.stderr).toBe(
      'eddy: no worker runs delays version 2 now (no open run of it in eddy.meta.runs): readers follow it, but nothing processes its new input until one does. A running worker whose code defines version 2 starts it within seconds; else start one: `eddy worker delays`.\n',
    );
    expect(p.stdout).toContain('delays version 2 is live (was version 1).');
    expect(p.stdout).toContain('Version 1 is superseded: the workers running it go on running it until it is retired.');
    expect(p.stdout).toContain('keep following version 1 until they are replayed');
    const rows = JSON.parse(eddy(['versions', 'delays', '--format', 'json']).stdout) as {
      version: number;
      state: string;
      live: boolean;
    }[];
    // exactly one live version: the one live before is superseded
    expect(rows.map((x) => [x.version, x.state, x.live])).toEqual([
      [1, 'superseded', false],
      [2, 'live', true],
    ]);
  });

  it('diffs the route store of v1 and v2 as a table and as JSON', () => {
    const j = eddy(['diff', 'delays', 'route_stats', '1', '2', '--format', 'json', '--sample', '3']);
    expect(j.stderr).toBe('');
    const r = JSON.parse(j.stdout) as {
      onlyA: number;
      onlyB: number;
      different: number;
      equal: number;
      sample: unknown[];
    };
    expect(r.onlyA + r.onlyB).toBe(0);
    expect(r.different).toBeGreaterThan(0);
    expect(r.sample).toHaveLength(3);
    const t = eddy(['diff', 'delays', 'route_stats', '1', '2', '--fields', 'flights,total_delay']);
    expect(t.stdout).toContain('fields flights, total_delay');
    expect(t.stdout).toMatch(/only_in_a.*only_in_b.*equal.*different/);
    const bad = eddy(['diff', 'delays', 'nope', '1', '2']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Both have: by_airport_hour, route_stats');
  });

  it("a store in several versions of one topology is the live version's; eddy's example does not join in", () => {
    // the project's config registers only `delays`: flight-delays (which also has route_stats) is not known here
    const r = eddy(['inspect', 'route_stats', '--format', 'jsonl']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const v1 = eddy(['inspect', 'route_stats', '--format', 'jsonl', '--version', '1']);
    expect(v1.code).toBe(0);
    expect(r.stdout).not.toBe('');
  });

  it('refuses to replay a live version over its outputs without --reset, and to retire the live version', () => {
    const r = eddy(['replay', 'delays', '--version', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('delays version 2 is live and already has outputs');
    expect(r.stderr).toContain('a live version is never replayed over');
    expect(r.stderr).not.toContain('--reset'); // refused for a live version too
    const live = eddy(['retire', 'delays', '2', '--yes']);
    expect(live.code).toBe(1);
    expect(live.stderr).toContain('Promote another version first');
  });

  it('prints what retiring v1 deletes and deletes nothing without --yes', () => {
    const r = eddy(['retire', 'delays', '1']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('would delete (run again with --yes to delete)');
    // purged once committed downstream (DeleteRecords): nothing left to count
    expect(r.stdout).toMatch(/delays\.v1\.route_stats\.repartition {2}0 record\(s\)/);
    expect(r.stdout).toContain('consumer group: delays.v1');
    expect(r.stdout).toContain(`state directory: ${join(dir, '.eddy', 'state', 'delays.v1')}`);
    expect(r.stdout).toContain('delays.v1.route_stats.changelog-value');
    expect(existsSync(join(dir, '.eddy', 'state', 'delays.v1'))).toBe(true);
  });
});
