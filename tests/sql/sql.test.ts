/**
 * `eddy sql` and the worker's `GET /sql` as a user meets them: the built CLI on an embedded log in a temp directory
 * after `eddy run`. SQL results equal `eddy inspect`; statements that would write are refused and change nothing;
 * `--topic` gives a topic's latest value per key; the worker enforces `http.token` on every endpoint but /health and
 * /ready, and stops a statement past `http.sqlTimeoutMs` (counted from the request, the query process start included).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { openBackendAt } from '../helpers/backend.js';
import { CLI, cleanEnv, eddy, type Proc } from '../helpers/proc.js';

const LIMIT = 3_000;
const TOKEN = 'test-token-0123456789abcdef';

/** Rows as canonical JSON, sorted: equal multisets of rows compare equal. */
const canon = (rows: readonly Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r)).sort();
const jsonl = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('eddy sql and GET /sql (embedded log, real processes)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'eddy-sql-'));
  const running: Proc[] = [];
  let airports = 0;
  const cli = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [CLI, '--data-dir', dataDir, ...args], {
      env: cleanEnv(env),
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    const env = openBackendAt(dataDir);
    try {
      airports = (await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT, partitions: 2 })).airports;
    } finally {
      await env.close();
    }
    const run = cli(['run', 'flight-delays', '--until-idle', '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
  }, 180_000);
  afterAll(() => {
    for (const p of running) p.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each(['delays_by_airport_hour', 'route_stats'])(
    'SELECT * FROM %s equals eddy inspect',
    (store) => {
      const inspect = cli(['inspect', store, '--format', 'jsonl']);
      expect(inspect.code, inspect.stderr).toBe(0);
      const sql = cli(['sql', `SELECT * FROM ${store}`, '--format', 'jsonl']);
      expect(sql.code, sql.stderr).toBe(0);
      const expected = jsonl(inspect.stdout);
      expect(expected.length).toBeGreaterThan(10);
      expect(canon(jsonl(sql.stdout))).toEqual(canon(expected));
      // typed columns: numbers are numbers (SUM works), and the versioned name is the same table
      const n = cli(['sql', `SELECT count(*) AS n, sum(flights) AS flights FROM ${store}_v1`, '--format', 'jsonl']);
      const [row] = jsonl(n.stdout);
      expect(row.n).toBe(expected.length);
      expect(row.flights).toBe(expected.reduce((a, r) => a + Number(r.flights), 0));
    },
    60_000,
  );

  it('refuses statements that write, and the store files are unchanged', () => {
    const stateDir = join(dataDir, 'state', 'flight-delays.v1');
    const files = readdirSync(stateDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.sqlite'))
      .map((f) => join(stateDir, f));
    const before = files.map((f) => readFileSync(f).toString('base64'));
    for (const q of [
      'DELETE FROM route_stats',
      'UPDATE route_stats SET flights = 0',
      'CREATE TABLE x (a)',
      'DROP TABLE route_stats',
      "ATTACH 'x.sqlite' AS x",
      'PRAGMA query_only = OFF',
    ]) {
      const r = cli(['sql', q]);
      expect(r.code, q).toBe(1);
      expect(r.stderr, q).toMatch(/read-only/);
    }
    expect(files.map((f) => readFileSync(f).toString('base64'))).toEqual(before);
  });

  it('--topic exposes a topic as its latest value per key', () => {
    const r = cli([
      'sql',
      'SELECT count(*) AS n, count(DISTINCT key) AS keys FROM airports',
      '--topic',
      'airports',
      '--format',
      'jsonl',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonl(r.stdout)).toEqual([{ n: airports, keys: airports }]);
    const out = cli([
      'sql',
      'SELECT a.key, a.window_start, a.flights FROM "airport-delays-hourly.v1" a ORDER BY a.key, a.window_start',
      '--topic',
      'airport-delays-hourly.v1',
      '--format',
      'jsonl',
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(jsonl(out.stdout).length).toBeGreaterThan(0);
  });

  it('worker: token required on every endpoint but /health and /ready, never logged; /sql equals eddy sql, read-only, time-limited', async () => {
    writeFileSync(join(dataDir, 'eddy.config.json'), JSON.stringify({ http: { sqlTimeoutMs: 5_000 } }));
    const w = eddy(['--data-dir', dataDir, '--config', join(dataDir, 'eddy.config.json'), 'worker', 'flight-delays'], {
      EDDY_HTTP_PORT: '0',
      EDDY_HTTP_TOKEN: TOKEN,
      EDDY_LOG_LEVEL: 'debug',
    });
    running.push(w);
    const start = await w.waitFor((l) => l.event === 'start');
    const base = `http://127.0.0.1:${start.port}`;
    await w.waitFor((l) => l.event === 'ready');
    const get = (path: string, token?: string) =>
      fetch(`${base}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    expect((await get('/health')).status).toBe(200);
    expect((await get('/ready')).status).toBe(200);
    for (const path of ['/metrics', '/stores/route_stats', '/sql?q=SELECT%201']) {
      expect((await get(path)).status, path).toBe(401);
      expect((await get(path, `${TOKEN}x`)).status, path).toBe(401);
      expect((await get(path, TOKEN.slice(0, -1))).status, path).toBe(401);
      expect((await get(path, TOKEN)).status, path).toBe(200);
    }
    const q = 'SELECT * FROM route_stats';
    const res = await get(`/sql?q=${encodeURIComponent(q)}&limit=10000`, TOKEN);
    const body = (await res.json()) as { rows: Record<string, unknown>[]; truncated: boolean };
    expect(body.truncated).toBe(false);
    expect(canon(body.rows)).toEqual(canon(jsonl(cli(['sql', q, '--format', 'jsonl']).stdout)));
    const del = await get(`/sql?q=${encodeURIComponent('DELETE FROM route_stats')}`, TOKEN);
    expect(del.status).toBe(400);
    expect(((await del.json()) as { error: { code: string } }).error.code).toBe('SQL_READ_ONLY');
    const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
    const slow = await get(`/sql?q=${encodeURIComponent(endless)}`, TOKEN);
    expect(slow.status).toBe(408);
    expect(((await slow.json()) as { error: { code: string } }).error.code).toBe('SQL_TIMEOUT');
    const metrics = await (await get('/metrics', TOKEN)).text();
    expect(metrics).toMatch(/^eddy_dead_letter_ratio\{topic="flight-delays.v1.dlq",version="1"\} /m);
    expect(metrics).toMatch(/^eddy_late_ratio\{version="1"\} /m);
    w.child.kill('SIGTERM');
    expect((await w.exit).code).toBe(0);
    expect(JSON.stringify(w.lines) + w.stderr()).not.toContain(TOKEN);
  }, 120_000);
});
