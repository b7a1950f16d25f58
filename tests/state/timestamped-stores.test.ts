/**
 * Timestamped stores (Kafka Streams' `ValueAndTimestamp`, KIP-258): every store entry keeps a timestamp (ms), its
 * changelog record carries it, a restore reads it back, and a store file written before stores kept timestamps gets
 * the `ts` column added with its rows intact.
 */
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tumbling } from '../../src/processors/window.js';
import { storeFiles } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { SqliteKeyValueStore } from '../../src/state/kv-store.js';
import { NO_TIMESTAMP } from '../../src/state/sqlite.js';
import { KeyValueStore, WindowStore } from '../../src/state/stores.js';
import { SqliteWindowStore, splitWindowChangelogKey, windowChangelogKey } from '../../src/state/window-store.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';
import { json, jsonSerde, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
const toClose: { close(): void }[] = [];
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  for (const s of toClose.splice(0)) s.close();
  tmp.cleanup();
});

function kv(file = 'kv.sqlite'): KeyValueStore<string, number> {
  const s = new KeyValueStore<string, number>(new SqliteKeyValueStore('kv', tmp.file(file)), jsonSerde(), jsonSerde());
  toClose.push(s);
  return s;
}

function win(file = 'win.sqlite'): WindowStore<string, number> {
  const s = new WindowStore<string, number>(new SqliteWindowStore('win', tmp.file(file)), jsonSerde(), jsonSerde());
  toClose.push(s);
  return s;
}

describe('KeyValueStore with timestamps', () => {
  it('put(key, value, ts): getWithTimestamp sees it pending, after the commit and from SQLite after eviction', () => {
    const s = kv();
    s.put('a', 1, 5_000);
    s.put('b', 2);
    expect(s.getWithTimestamp('a')).toEqual({ value: 1, timestampMs: 5_000 });
    expect(s.getWithTimestamp('b')).toEqual({ value: 2, timestampMs: NO_TIMESTAMP }); // stamped at commit
    expect(s.getWithTimestamp('c')).toBeUndefined();
    const changes = s.pendingChanges();
    expect(changes).toEqual([
      { key: json('a'), value: json(1), timestampMs: 5_000 },
      { key: json('b'), value: json(2), timestampMs: undefined },
    ]);
    // what TaskContext.changelogs does: an entry without a timestamp gets the batch's last one
    s.committed(
      changes.map((e) => ({ ...e, timestampMs: e.timestampMs ?? 9_000 })),
      2,
    );
    expect(s.getWithTimestamp('b')).toEqual({ value: 2, timestampMs: 9_000 });
    s.rolledBack(); // drops the cache: reads come from SQLite
    expect(s.getWithTimestamp('a')).toEqual({ value: 1, timestampMs: 5_000 });
    expect(s.getWithTimestamp('b')).toEqual({ value: 2, timestampMs: 9_000 });
  });

  it('a later put replaces the timestamp; delete sends a tombstone with its own timestamp', () => {
    const s = kv();
    s.put('a', 1, 5_000);
    s.put('a', 2, 1_000); // the store keeps what it is given: an aggregate passes its max itself
    expect(s.getWithTimestamp('a')).toEqual({ value: 2, timestampMs: 1_000 });
    s.committed(s.pendingChanges(), 1);
    s.delete('a', 7_000);
    expect(s.pendingChanges()).toEqual([{ key: json('a'), value: null, timestampMs: 7_000 }]);
    expect(s.getWithTimestamp('a')).toBeUndefined();
  });

  it('refuses a timestamp that is not a finite number', () => {
    expect(() => kv().put('a', 1, Number.NaN)).toThrow('store kv: timestamp must be a finite number of ms, got NaN');
  });

  it('a store file without the ts column (older eddy) gets it added, rows kept, their timestamp unknown (-1)', () => {
    const path = tmp.file('old.sqlite');
    const db = new Database(path);
    db.exec('CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
    db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)').run(json('a'), json(41));
    db.close();
    const s = kv('old.sqlite');
    expect(s.getWithTimestamp('a')).toEqual({ value: 41, timestampMs: NO_TIMESTAMP });
    s.put('a', 42, 3_000);
    s.committed(s.pendingChanges(), 1);
    s.rolledBack();
    expect(s.getWithTimestamp('a')).toEqual({ value: 42, timestampMs: 3_000 });
    s.close();
    // opening again finds the column and adds nothing
    const again = kv('old.sqlite');
    expect(again.getWithTimestamp('a')).toEqual({ value: 42, timestampMs: 3_000 });
  });
});

describe('WindowStore with timestamps', () => {
  it('put(key, start, value, ts) and remove(key, start, ts): pending, committed, from SQLite', () => {
    const s = win();
    s.put('a', 0, 1, 500);
    s.put('a', 1_000, 2, 1_500);
    expect(s.getWithTimestamp('a', 0)).toEqual({ value: 1, timestampMs: 500 });
    expect(s.pendingChanges()).toEqual([
      { key: windowChangelogKey(json('a'), 0), value: json(1), timestampMs: 500 },
      { key: windowChangelogKey(json('a'), 1_000), value: json(2), timestampMs: 1_500 },
    ]);
    s.committed(s.pendingChanges(), 2);
    s.rolledBack();
    expect(s.getWithTimestamp('a', 1_000)).toEqual({ value: 2, timestampMs: 1_500 });
    expect(s.startingIn(0, 2_000).map((w) => w.timestampMs)).toEqual([500, 1_500]);
    s.remove('a', 0, 2_000);
    expect(s.pendingChanges()).toEqual([{ key: windowChangelogKey(json('a'), 0), value: null, timestampMs: 2_000 }]);
  });

  it('a store file without the ts column gets it added, rows kept', () => {
    const path = tmp.file('oldwin.sqlite');
    const db = new Database(path);
    db.exec(
      'CREATE TABLE win (key BLOB NOT NULL, window_start INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, window_start)) WITHOUT ROWID',
    );
    db.prepare('INSERT INTO win (key, window_start, value) VALUES (?, ?, ?)').run(json('a'), 60_000, json(7));
    db.close();
    const s = win('oldwin.sqlite');
    expect(s.getWithTimestamp('a', 60_000)).toEqual({ value: 7, timestampMs: NO_TIMESTAMP });
    expect(s.startingIn(0, 120_000)).toEqual([{ key: 'a', windowStartMs: 60_000, value: 7, timestampMs: -1 }]);
  });
});

describe('a store restored from its changelog is identical, timestamps included (runtime, embedded log)', () => {
  const env = tempBackend('eddy-timestamped-');
  afterAll(() => env.destroy());
  const ORDER = {
    type: 'record',
    name: 'Order',
    fields: [
      { name: 'shop', type: 'string' },
      { name: 'amount', type: 'int' },
    ],
  };
  const TOTAL = { type: 'record', name: 'Total', fields: [{ name: 'sum', type: 'long' }] };

  function build(): Topology {
    const t = topology({ name: 'tsshop', version: 1 });
    const grouped = t
      .source<string, { shop: string; amount: number }>('ts-orders', { key: 'string', value: ORDER })
      .groupByKey({ key: 'string' });
    grouped.aggregate<{ sum: number }>('totals', {
      value: TOTAL,
      initializer: () => ({ sum: 0 }),
      aggregator: (a, r) => ({ sum: a.sum + r.amount }),
    });
    grouped.windowedBy(tumbling({ sizeMs: 10_000, graceMs: 60_000 })).aggregate<{ sum: number }>('per10s', {
      value: TOTAL,
      initializer: () => ({ sum: 0 }),
      aggregator: (a, r) => ({ sum: a.sum + r.amount }),
    });
    return t.build();
  }

  /** Every row of every task file of `store`, with its ts column, as comparable strings. */
  function rows(t: Topology, store: string, table: 'kv' | 'win'): string[] {
    const out: string[] = [];
    for (const f of storeFiles(env.stateDir, t, store)) {
      const db = new Database(f.path, { readonly: true });
      for (const r of db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all() as Record<string, unknown>[])
        out.push(
          `${f.task} ${Object.entries(r)
            .map(([k, v]) => `${k}=${Buffer.isBuffer(v) ? v.toString('hex') : v}`)
            .join(' ')}`,
        );
      db.close();
    }
    return out;
  }

  it('changelog records carry each entry timestamp; after deleting the state, restore rebuilds the same rows', async () => {
    const t = build();
    await env.log.createTopics([{ name: 'ts-orders', partitions: 2 }]);
    const key = await AvroSerde.create<string>(env.registry, 'ts-orders-key', 'string');
    const value = await AvroSerde.create<{ shop: string; amount: number }>(env.registry, 'ts-orders-value', ORDER);
    const producer = env.log.producer();
    const shops = ['s1', 's2', 's3', 's10'];
    await producer.send(
      Array.from({ length: 40 }, (_, i) => ({
        topic: 'ts-orders',
        partition: i % 2,
        key: key.serialize(shops[i % 4]),
        value: value.serialize({ shop: shops[i % 4], amount: i }),
        timestamp: 1_000_000 + ((i * 7_919) % 50_000), // out of order, within grace
      })),
    );
    await producer.close();
    const run = () =>
      new TopologyRunner(t, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
        maxBatchRecords: 3,
      }).run();
    await run();
    const kvBefore = rows(t, 'totals', 'kv');
    const winBefore = rows(t, 'per10s', 'win');
    expect(kvBefore.length).toBeGreaterThan(0);
    expect(winBefore.length).toBeGreaterThan(0);
    expect(kvBefore.every((r) => /ts=\d+$/.test(r))).toBe(true);
    expect(winBefore.every((r) => /ts=\d+$/.test(r))).toBe(true);

    // each store row's ts is the timestamp of the last changelog record of its key
    const changelog = t.stores.get('per10s')!.changelog;
    const last = new Map<string, number>();
    for (let p = 0; p < 2; p++)
      for await (const b of env.log.read({ topic: changelog, partition: p }))
        for (const r of b) {
          const { key: k, windowStartMs } = splitWindowChangelogKey(r.key!);
          last.set(`${k.toString('hex')}@${windowStartMs}`, r.timestamp);
        }
    for (const r of winBefore) {
      const m = /key=(\w+) window_start=(-?\d+) value=\w+ ts=(\d+)$/.exec(r)!;
      expect(Number(m[3])).toBe(last.get(`${m[1]}@${m[2]}`));
    }

    // delete the state directory: the next run restores every store from its changelog
    rmSync(env.stateDir, { recursive: true, force: true });
    await run();
    expect(rows(t, 'totals', 'kv')).toEqual(kvBefore);
    expect(rows(t, 'per10s', 'win')).toEqual(winBefore);
  });
});
