/**
 * Run records and `eddy sql` on the Kafka backend (the broker and registry of tests/infra/global-setup.ts): the built
 * CLI in a namespace of its own. The same scenarios as the embedded tests, shorter: a finished run's record, a
 * SIGKILLed worker's record, SQL equal to `eddy inspect`, a topic as a table.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListedRun } from '../../src/runs/record.js';
import { CLI, cleanEnv, eddy, type Proc } from '../helpers/proc.js';
import { type FlightNamespace, flightNamespace } from '../kafka/helpers.js';

const LIMIT = 2_000;

describe('run records and eddy sql (Kafka)', () => {
  let ns: FlightNamespace;
  const running: Proc[] = [];
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: ns.dir,
      env: cleanEnv(ns.env),
      encoding: 'utf8',
      timeout: 180_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const runs = () => JSON.parse(cli(['runs', ns.topology.name, '--format', 'json']).stdout) as ListedRun[];
  const rows = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.length > 0)
      .sort();

  beforeAll(async () => {
    ns = await flightNamespace({ limit: LIMIT, maxBatchRecords: 500 });
  }, 300_000);
  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await ns?.cleanup();
  });

  it('eddy run records its run; eddy sql equals eddy inspect; a topic is a table', () => {
    const run = cli(['run', ns.topology.name, '--until-idle', '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
    const [r] = runs();
    expect(r).toMatchObject({ kind: 'run', status: 'idle', version: 1 });
    const atEnd = Object.entries(r.positionsAtEnd ?? {}).filter(([tp]) => tp.startsWith(`${ns.topics.flights}:`));
    expect(atEnd.reduce((n, [, o]) => n + o, 0)).toBe(LIMIT);
    for (const store of ns.topology.stores.keys()) {
      const inspect = cli(['inspect', store, '--topology', ns.topology.name, '--format', 'jsonl']);
      expect(inspect.code, inspect.stderr).toBe(0);
      const sql = cli(['sql', `SELECT * FROM ${store}`, '--format', 'jsonl']);
      expect(sql.code, sql.stderr).toBe(0);
      expect(rows(sql.stdout)).toEqual(rows(inspect.stdout));
    }
    const t = cli([
      'sql',
      `SELECT count(*) AS n FROM "${ns.topics.airports}"`,
      '--topic',
      ns.topics.airports,
      '--format',
      'jsonl',
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect((JSON.parse(t.stdout) as { n: number }).n).toBeGreaterThan(0);
  }, 300_000);

  it('a SIGKILLed worker leaves a record with no end, listed as killed', async () => {
    const before = runs().length;
    const w = eddy(['worker', ns.topology.name], ns.env, { cwd: ns.dir });
    running.push(w);
    await w.waitFor((l) => l.event === 'ready', 120_000);
    const deadline = Date.now() + 60_000;
    while (runs().length < before + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    w.child.kill('SIGKILL');
    await w.exit;
    const killed = runs().filter((r) => r.pid === w.child.pid);
    expect(killed).toHaveLength(1);
    expect(killed[0]).toMatchObject({ kind: 'worker', status: 'killed' });
    expect(killed[0].endMs).toBeUndefined();
  }, 300_000);
});
