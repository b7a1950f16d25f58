/**
 * `eddy dlq redrive` as a user runs it (the built CLI in child processes, embedded log): `--dry-run` and `--yes` warn,
 * before writing, of copies that would fall in windows already closed; after the redrive, `eddy replay --version 2`
 * skips every copy and `eddy runs` shows how many (`redriven_skipped`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openBackendAt } from '../helpers/backend.js';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';
import { buildRedrive, loadInput, MISSING, orders, readAll, redriveNames, writeCustomers } from '../helpers/redrive.js';

const COUNT = 300;
/** The topology of tests/helpers/redrive.ts, versions 1 and 2, without grace (windows close at the next hour). */
const MODULE = `
import { topology, tumbling } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
const ORDER = { type: 'record', name: 'RdOrder', fields: [{ name: 'id', type: 'string' }, { name: 'customer', type: 'string' }, { name: 'amount', type: 'int' }] };
const CUSTOMER = { type: 'record', name: 'RdCustomer', fields: [{ name: 'name', type: 'string' }, { name: 'tier', type: 'string' }] };
const TOTALS = { type: 'record', name: 'RdTotals', fields: [{ name: 'orders', type: 'int' }, { name: 'total', type: 'int' }] };
const ENRICHED = { type: 'record', name: 'RdEnriched', fields: [...ORDER.fields, { name: 'tier', type: 'string' }] };
const build = (version) => {
  const t = topology({ name: 'rd', version });
  const orders = t.source('rd-orders', { key: 'string', value: ORDER });
  const customers = t.globalTable('customers', 'rd-customers', { key: 'string', value: CUSTOMER });
  const totals = t.output('rd-tier-totals', { key: 'string', value: TOTALS });
  const enriched = orders.join(customers, (r) => r.value.customer, (o, c) => ({ ...o, tier: c.tier }), { name: 'enrich', onMissing: 'dead-letter' });
  enriched.groupBy('by_tier', (r) => r.value.tier, { key: 'string', value: ENRICHED })
    .aggregate('totals_by_tier', { value: TOTALS, keyName: 'tier', initializer: () => ({ orders: 0, total: 0 }), aggregator: (a, o) => ({ orders: a.orders + 1, total: a.total + o.amount }) })
    .toStream().to(totals, 'to-totals');
  enriched.groupByKey({ key: 'string' }).windowedBy(tumbling({ sizeMs: 3600000, graceMs: 0 }))
    .aggregate('per_customer_hour', { value: TOTALS, keyName: 'customer', initializer: () => ({ orders: 0, total: 0 }), aggregator: (a, o) => ({ orders: a.orders + 1, total: a.total + o.amount }) });
  return t.build();
};
export default () => [build(1), build(2)];
`;

describe('eddy dlq redrive (CLI, embedded log)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-redrive-cli-'));
  const dataDir = join(dir, 'data');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const eddy = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: cleanEnv({ EDDY_DATA_DIR: dataDir }),
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(r.stderr, `eddy ${args.join(' ')}`).toBe('');
    expect(r.status, `eddy ${args.join(' ')}`).toBe(0);
    return r.stdout;
  };
  const withBackend = async <T>(fn: (b: ReturnType<typeof openBackendAt>) => Promise<T>): Promise<T> => {
    const b = openBackendAt(dataDir);
    try {
      return await fn(b);
    } finally {
      await b.close();
    }
  };

  it('warns of copies for closed windows before writing; replay v2 skips the copies and eddy runs counts them', async () => {
    writeFileSync(join(dir, 'topology.mjs'), MODULE);
    writeFileSync(join(dir, 'eddy.config.json'), JSON.stringify({ topologies: { rd: './topology.mjs' } }));
    const names = redriveNames();
    const missing = orders(COUNT).filter((o) => o.order.customer === MISSING).length;
    // the module's topology is the helper's with no grace (same names and schemas)
    expect(buildRedrive(names, 1, 0).deadLetterTopic).toBe('rd.v1.dlq');
    await withBackend((b) => loadInput({ ...b }, names, COUNT));
    eddy(['run', 'rd', '--version', '1', '--until-idle', '--no-progress']);
    await withBackend((b) => writeCustomers(b, names, [MISSING]));

    const dry = eddy(['dlq', 'rd', 'redrive', '--version', '1', '--dry-run']);
    expect(dry).toMatch(
      /warning: \d+ re-driven record\(s\) fall in windows of per_customer_hour \(store per_customer_hour\) that are already closed/,
    );
    expect(dry).toContain(`would re-drive ${missing} dead letter(s) of rd.v1.dlq`);
    const copies = async () =>
      withBackend(async (b) =>
        (await readAll(b.log, names.orders)).filter((r) => r.headers['eddy.redrive.of'] !== undefined),
      );
    expect(await copies()).toHaveLength(0);

    const sent = eddy(['dlq', 'rd', 'redrive', '--version', '1', '--yes']);
    const warning = sent.indexOf('warning: ');
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(warning).toBeLessThan(sent.indexOf(`re-drove ${missing} dead letter(s)`));
    expect(await copies()).toHaveLength(missing);

    eddy(['replay', 'rd', '--version', '2', '--no-progress']);
    const runs = JSON.parse(eddy(['runs', 'rd', '--format', 'json'])) as Record<string, unknown>[];
    const replay = runs.find((r) => r.version === 2 && r.kind === 'replay') as {
      redrivenSkipped?: Record<string, number>;
    };
    expect(replay?.redrivenSkipped).toEqual({ [names.orders]: missing });
    expect(eddy(['runs', 'rd'])).toContain('redriven_skipped');
  }, 300_000);
});
