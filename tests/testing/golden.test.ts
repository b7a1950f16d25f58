/**
 * goldenTest helpers on the shop topology in a temporary case folder: recording, comparing with either engine (the
 * test driver and the runtime on an embedded log agree), and failing on a differing, missing or unexpected output.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type GoldenDifference, GoldenMismatchError, goldenTest } from '../../src/index.js';
import { buildShop } from './shop.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eddy-golden-helper-'));
  const lines = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  writeFileSync(
    join(dir, 'case.json'),
    JSON.stringify({
      inputs: [
        { topic: 'customers', file: 'customers.jsonl' },
        { topic: 'orders', file: 'orders.jsonl', timestampField: 'ts' },
      ],
      maxBatchRecords: 2,
    }),
  );
  writeFileSync(
    join(dir, 'customers.jsonl'),
    lines([
      { key: 'c1', value: { name: 'Ada', tier: 'gold' } },
      { key: 'c2', value: { name: 'Bob', tier: 'basic' } },
    ]),
  );
  writeFileSync(
    join(dir, 'orders.jsonl'),
    lines([
      { key: 'c1', value: { id: 'o1', customer: 'c1', amount: 5 }, timestamp: 100 },
      { key: 'c2', value: { id: 'o2', customer: 'c2', amount: 7 }, timestamp: 400 },
      { key: 'c9', value: { id: 'o3', customer: 'c9', amount: 1 }, timestamp: 500 },
      { key: 'c1', valueHex: '00deadbeef', timestamp: 600 },
      { key: 'c1', value: { id: 'o4', customer: 'c1', amount: -2 }, timestamp: 700 },
      { key: 'c1', value: { id: 'o5', customer: 'c1', amount: 3 }, timestamp: 1_200 },
      { key: 'c2', value: { id: 'o6', customer: 'c2', amount: 4 }, timestamp: 300 },
    ]),
  );
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

async function differences(p: Promise<unknown>): Promise<GoldenDifference[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GoldenMismatchError);
  return [...(err as GoldenMismatchError).differences];
}

describe('goldenTest', () => {
  it('records every output, dead-letter topic and store; both engines then agree with the fixtures', async () => {
    vi.stubEnv('EDDY_GOLDEN_RECORD', '1');
    await goldenTest(dir, { topology: buildShop });
    vi.unstubAllEnvs();
    const expected = join(dir, 'expected');
    for (const f of [
      'tier-totals.v1.jsonl',
      'customer-seconds.v1.jsonl',
      'shop.v1.dlq.jsonl',
      'stores/totals_by_tier.jsonl',
      'stores/per_customer_second.jsonl',
    ])
      expect(existsSync(join(expected, f)), f).toBe(true);
    const dlq = readFileSync(join(expected, 'shop.v1.dlq.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // offsets 2 and 3 share a batch of 2: the record that cannot be decoded is dead-lettered first, as in the runtime
    expect(dlq.map((r) => [r.processor, r.source])).toEqual([
      ['deserialize', 'orders/0/3'],
      ['enrich', 'orders/0/2'],
      ['check-amount', 'orders/0/4'],
      ['per_customer_second', 'orders/0/6'],
    ]);
    expect(dlq[0].reason).toContain('(<registry>)');
    await goldenTest(dir, { topology: buildShop, engine: 'driver' });
    await goldenTest(dir, { topology: buildShop, engine: 'embedded-log' });
  });

  it('fails when an expected output differs, is missing from the run, or was not expected', async () => {
    await goldenTest(dir, { topology: buildShop, record: true });
    const expected = join(dir, 'expected');
    const totals = join(expected, 'tier-totals.v1.jsonl');
    writeFileSync(totals, readFileSync(totals, 'utf8').replace('"total":5', '"total":6'));
    writeFileSync(join(expected, 'gone.v1.jsonl'), '{"partition":0}\n');
    rmSync(join(expected, 'stores', 'totals_by_tier.jsonl'));
    const diffs = await differences(goldenTest(dir, { topology: buildShop }));
    expect(diffs.map((d) => [d.file, d.kind])).toEqual([
      ['gone.v1.jsonl', 'missing-from-run'],
      ['stores/totals_by_tier.jsonl', 'not-expected'],
      ['tier-totals.v1.jsonl', 'differs'],
    ]);
    expect(diffs[2].detail).toContain('first difference at line 1');
  });

  it('fails when the run lost rows at the end of an output', async () => {
    await goldenTest(dir, { topology: buildShop, record: true });
    const orders = join(dir, 'orders.jsonl');
    const all = readFileSync(orders, 'utf8').trim().split('\n');
    writeFileSync(orders, `${all.slice(0, 2).join('\n')}\n`);
    const diffs = await differences(goldenTest(dir, { topology: buildShop }));
    expect(diffs.find((d) => d.file === 'shop.v1.dlq.jsonl')?.detail).toMatch(/^4 row\(s\) expected, 0 produced/);
  });

  it('re-recording removes expected files the run no longer produces', async () => {
    mkdirSync(join(dir, 'expected'), { recursive: true });
    writeFileSync(join(dir, 'expected', 'stale.v1.jsonl'), '{}\n');
    await goldenTest(dir, { topology: buildShop, record: true });
    expect(existsSync(join(dir, 'expected', 'stale.v1.jsonl'))).toBe(false);
    await goldenTest(dir, { topology: buildShop });
  });
});
