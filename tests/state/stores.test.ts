import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteKeyValueStore } from '../../src/state/kv-store.js';
import type { ChangelogEntry } from '../../src/state/sqlite.js';
import { KeyValueStore, WindowStore } from '../../src/state/stores.js';
import { SqliteWindowStore, windowChangelogKey } from '../../src/state/window-store.js';
import { hexRows, json, jsonSerde, tempDir } from './helpers.js';

interface Stats {
  n: number;
  sum: number;
}

let tmp: ReturnType<typeof tempDir>;
const toClose: { close(): void }[] = [];

beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  for (const s of toClose.splice(0)) s.close();
  tmp.cleanup();
});

function kvStore<V = number>(file = 'kv.sqlite', maxCacheEntries?: number): KeyValueStore<string, V> {
  const s = new KeyValueStore<string, V>(
    new SqliteKeyValueStore('kv', tmp.file(file)),
    jsonSerde(),
    jsonSerde(),
    maxCacheEntries,
  );
  toClose.push(s);
  return s;
}

function windowStore<V = number>(file = 'win.sqlite', maxCacheEntries?: number): WindowStore<string, V> {
  const s = new WindowStore<string, V>(
    new SqliteWindowStore('win', tmp.file(file)),
    jsonSerde(),
    jsonSerde(),
    maxCacheEntries,
  );
  toClose.push(s);
  return s;
}

/** The size of the write cache (a protected field: eviction is what is under test). */
function cacheSize(s: KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown>): number {
  return (s as unknown as { cache: Map<string, unknown> }).cache.size;
}

/** Commits like the runtime does: takes the pending changes, "sends" them, then marks them committed. */
function commit<S extends KeyValueStore<string, unknown> | WindowStore<string, unknown>>(
  s: S,
  checkpoint: number,
): ChangelogEntry[] {
  const changes = s.pendingChanges();
  s.committed(changes, checkpoint);
  return changes;
}

/** Changelog entries as comparable strings. */
function show(entries: readonly ChangelogEntry[]): string[] {
  return entries.map((e) => `${e.key.toString('hex')}=${e.value === null ? 'null' : e.value.toString()}`);
}

describe('KeyValueStore: write cache', () => {
  it('put/get/delete are visible at once and do not reach SQLite before the commit', () => {
    const s = kvStore();
    expect(s.get('a')).toBeUndefined();
    s.put('a', 1);
    s.put('b', 2);
    expect(s.get('a')).toBe(1);
    expect(s.get('b')).toBe(2);
    s.delete('b');
    expect(s.get('b')).toBeUndefined();
    expect(s.count()).toBe(0);
    expect([...s.entries()]).toEqual([]);
    expect(s.checkpoint()).toBe(0);
  });

  it('serves falsy values (0, empty string, false) from the cache and from SQLite', () => {
    const s = kvStore<unknown>();
    s.put('zero', 0);
    s.put('empty', '');
    s.put('no', false);
    expect([s.get('zero'), s.get('empty'), s.get('no')]).toEqual([0, '', false]);
    commit(s, 3);
    const again = kvStore<unknown>();
    expect([again.get('zero'), again.get('empty'), again.get('no')]).toEqual([0, '', false]);
  });

  it('pendingChanges coalesces repeated writes to one key into one entry, in first-written order', () => {
    const s = kvStore();
    s.put('a', 1);
    s.put('b', 2);
    s.put('a', 3);
    s.delete('b');
    s.put('c', 4);
    s.put('a', 5);
    expect(s.pendingCount).toBe(3);
    expect(s.pendingChanges()).toEqual([
      { key: json('a'), value: json(5) },
      { key: json('b'), value: null },
      { key: json('c'), value: json(4) },
    ]);
  });

  it('a delete after a put of a new key still sends a tombstone (the key may exist in the changelog)', () => {
    const s = kvStore();
    s.put('x', 1);
    s.delete('x');
    expect(show(s.pendingChanges())).toEqual([`${json('x').toString('hex')}=null`]);
  });

  it('reads that load from SQLite are not pending changes', () => {
    const s = kvStore();
    s.put('a', 1);
    commit(s, 1);
    s.rolledBack(); // empty the cache, so the next get loads from SQLite
    expect(s.get('a')).toBe(1);
    expect(s.pendingCount).toBe(0);
    expect(s.pendingChanges()).toEqual([]);
  });

  it('committed() applies the changes to SQLite and records the checkpoint (seen after reopening the file)', () => {
    const s = kvStore();
    s.put('a', 1);
    s.put('b', 2);
    s.put('c', 3);
    expect(commit(s, 3)).toHaveLength(3);
    expect(s.pendingCount).toBe(0);
    expect(s.pendingChanges()).toEqual([]);
    s.put('a', 10);
    s.delete('c');
    commit(s, 5);
    expect(s.checkpoint()).toBe(5);
    s.close();

    const again = kvStore();
    expect(again.checkpoint()).toBe(5);
    expect([...again.entries()]).toEqual([
      { key: 'a', value: 10 },
      { key: 'b', value: 2 },
    ]);
    expect(again.count()).toBe(2);
    expect(again.get('c')).toBeUndefined();
  });

  it('committed() with no changes still moves the checkpoint', () => {
    const s = kvStore();
    s.committed([], 17);
    expect(s.checkpoint()).toBe(17);
  });

  it('rolledBack() drops uncommitted writes and deletes', () => {
    const s = kvStore();
    s.put('a', 1);
    s.put('b', 2);
    commit(s, 2);
    s.put('a', 100);
    s.delete('b');
    s.put('c', 3);
    s.rolledBack();
    expect(s.pendingCount).toBe(0);
    expect(s.pendingChanges()).toEqual([]);
    expect(s.get('a')).toBe(1);
    expect(s.get('b')).toBe(2);
    expect(s.get('c')).toBeUndefined();
    expect(s.checkpoint()).toBe(2);
  });

  it('rolledBack(): a value an aggregator mutated in place (and put) is not visible afterwards', () => {
    const s = kvStore<Stats>();
    s.put('SFO', { n: 1, sum: 10 });
    commit(s, 1);
    const agg = s.get('SFO')!; // served from the cache: the very object the cache holds
    agg.n += 1;
    agg.sum += 5;
    s.put('SFO', agg);
    s.rolledBack();
    expect(s.get('SFO')).toEqual({ n: 1, sum: 10 });
  });

  it('rolledBack(): a value mutated in place without a put is not visible afterwards either', () => {
    const s = kvStore<Stats>();
    s.put('SFO', { n: 1, sum: 10 });
    commit(s, 1);
    s.get('SFO')!.n = 99;
    s.rolledBack();
    expect(s.get('SFO')).toEqual({ n: 1, sum: 10 });
  });

  it('counts cache hits and misses', () => {
    const s = kvStore();
    s.get('a'); // miss (absent)
    s.put('a', 1);
    s.get('a'); // hit
    s.get('a'); // hit
    commit(s, 1);
    s.rolledBack();
    s.get('a'); // miss, loaded
    s.get('a'); // hit
    expect([s.hits, s.misses]).toEqual([3, 2]);
  });
});

describe('KeyValueStore: key identity', () => {
  // Regression: the write cache identified a non-string key by JSON.stringify(key), which depends on property order,
  // while the changelog and SQLite identify it by its serialized bytes. Two objects with the same fields in another
  // order became two cache entries for one changelog key. The cache now identifies keys by their serialized bytes.
  it('keys with equal serialized bytes are one key, whatever their property order', () => {
    const canonical = {
      serialize: (k: Record<string, unknown>) =>
        json(Object.fromEntries(Object.entries(k).sort(([a], [b]) => (a < b ? -1 : 1)))),
      deserialize: (b: Buffer) => JSON.parse(b.toString()) as Record<string, unknown>,
    };
    const s = new KeyValueStore<Record<string, unknown>, number>(
      new SqliteKeyValueStore('kv', tmp.file('kv.sqlite')),
      canonical,
      jsonSerde(),
    );
    toClose.push(s);
    s.put({ from: 'SFO', to: 'BOS' }, 1);
    s.put({ to: 'BOS', from: 'SFO' }, 2);
    s.put({ from: 'SFO', to: 'BOS' }, 3);
    expect(s.get({ to: 'BOS', from: 'SFO' })).toBe(3);
    expect(s.pendingChanges()).toEqual([{ key: json({ from: 'SFO', to: 'BOS' }), value: json(3) }]);
  });
});

describe('KeyValueStore: eviction', () => {
  it('keeps at most maxCacheEntries clean entries after a commit, evicting the oldest first', () => {
    const s = kvStore('kv.sqlite', 2);
    for (const k of ['k0', 'k1', 'k2', 'k3', 'k4']) s.put(k, Number(k[1]));
    commit(s, 5);
    expect(cacheSize(s)).toBe(2);
    s.hits = 0;
    s.misses = 0;
    expect(['k3', 'k4'].map((k) => s.get(k))).toEqual([3, 4]);
    expect([s.hits, s.misses]).toEqual([2, 0]);
    expect(['k0', 'k1', 'k2'].map((k) => s.get(k))).toEqual([0, 1, 2]); // evicted entries come back from SQLite
    expect([s.hits, s.misses]).toEqual([2, 3]);
  });

  it('never drops dirty entries: a batch may exceed the bound, and every write reaches SQLite', () => {
    const s = kvStore('kv.sqlite', 1);
    const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    for (const [i, k] of keys.entries()) s.put(k, i);
    expect(cacheSize(s)).toBe(20);
    expect(keys.map((k) => s.get(k))).toEqual(keys.map((_, i) => i));
    expect(s.pendingCount).toBe(20);
    expect(s.pendingChanges()).toHaveLength(20);
    commit(s, 20);
    expect(cacheSize(s)).toBe(1);
    expect([...s.entries()].map((e) => e.value)).toEqual(keys.map((_, i) => i));
  });

  it('a dirty entry written again after being loaded stays until the commit even with maxCacheEntries 0', () => {
    const s = kvStore('kv.sqlite', 0);
    s.put('a', 1);
    commit(s, 1);
    expect(cacheSize(s)).toBe(0);
    s.put('a', s.get('a')! + 1);
    s.put('b', 7);
    expect(s.pendingChanges()).toEqual([
      { key: json('a'), value: json(2) },
      { key: json('b'), value: json(7) },
    ]);
    commit(s, 3);
    expect(cacheSize(s)).toBe(0);
    expect([...s.entries()]).toEqual([
      { key: 'a', value: 2 },
      { key: 'b', value: 7 },
    ]);
  });

  it('drops deleted keys from the cache at commit', () => {
    const s = kvStore('kv.sqlite', 100);
    s.put('a', 1);
    s.put('b', 2);
    commit(s, 2);
    s.delete('a');
    commit(s, 3);
    expect(cacheSize(s)).toBe(1);
    expect(s.get('a')).toBeUndefined();
  });
});

describe('KeyValueStore: restore', () => {
  it('restoring the changelog (tombstones delete) gives byte-identical content', () => {
    const original = kvStore<Stats>('original.sqlite', 3);
    const changelog: ChangelogEntry[] = [];
    // Five batches, with overwrites, deletes, re-inserts after deletes, and keys evicted from the cache.
    const batches: [string, Stats | null][][] = [
      [
        ['ATL', { n: 1, sum: 5 }],
        ['BOS', { n: 1, sum: -3 }],
        ['ATL', { n: 2, sum: 12 }],
      ],
      [
        ['CHI', { n: 1, sum: 0 }],
        ['BOS', null],
        ['DEN', { n: 1, sum: 1 }],
        ['EWR', { n: 1, sum: 2 }],
      ],
      [
        ['BOS', { n: 1, sum: 44 }],
        ['CHI', null],
      ],
      [['ATL', { n: 3, sum: 13 }]],
      [
        ['FLL', { n: 1, sum: 9 }],
        ['EWR', null],
      ],
    ];
    for (const batch of batches) {
      for (const [k, v] of batch) {
        if (v === null) original.delete(k);
        else original.put(k, v);
      }
      const changes = original.pendingChanges();
      changelog.push(...changes);
      original.committed(changes, changelog.length);
    }
    const restored = kvStore<Stats>('restored.sqlite');
    restored.restore(changelog, changelog.length);
    expect(restored.checkpoint()).toBe(changelog.length);
    expect(original.checkpoint()).toBe(changelog.length);

    const rows = (file: string) => {
      const bytes = new SqliteKeyValueStore('kv', tmp.file(file));
      toClose.push(bytes);
      return hexRows(bytes.all());
    };
    expect(rows('restored.sqlite')).toEqual(rows('original.sqlite'));
    expect([...restored.entries()]).toEqual([
      { key: 'ATL', value: { n: 3, sum: 13 } },
      { key: 'BOS', value: { n: 1, sum: 44 } },
      { key: 'DEN', value: { n: 1, sum: 1 } },
      { key: 'FLL', value: { n: 1, sum: 9 } },
    ]);
  });

  it('restore in several chunks equals restore in one', () => {
    const entries: ChangelogEntry[] = [
      { key: json('a'), value: json(1) },
      { key: json('b'), value: json(2) },
      { key: json('a'), value: null },
      { key: json('c'), value: json(3) },
      { key: json('a'), value: json(4) },
    ];
    const one = kvStore('one.sqlite');
    one.restore(entries, 5);
    const chunked = kvStore('chunked.sqlite');
    chunked.restore(entries.slice(0, 2), 2);
    chunked.restore(entries.slice(2, 3), 3);
    chunked.restore(entries.slice(3), 5);
    expect([...chunked.entries()]).toEqual([...one.entries()]);
    expect([...one.entries()]).toEqual([
      { key: 'a', value: 4 },
      { key: 'b', value: 2 },
      { key: 'c', value: 3 },
    ]);
    expect(chunked.checkpoint()).toBe(5);
  });

  it('refuses to restore over uncommitted writes', () => {
    const s = kvStore();
    s.put('a', 1);
    expect(() => s.restore([], 0)).toThrow('store kv: restore with uncommitted writes');
  });

  it('restore drops clean cached values, so restored values are what get() returns', () => {
    const s = kvStore();
    s.put('a', 1);
    commit(s, 1);
    expect(s.get('a')).toBe(1); // cached, clean
    s.restore([{ key: json('a'), value: json(2) }], 2);
    expect(s.get('a')).toBe(2);
  });
});

describe('WindowStore', () => {
  it('keeps one value per (key, window start) and coalesces repeated writes', () => {
    const s = windowStore();
    s.put('A', 0, 1);
    s.put('A', 10, 2);
    s.put('B', 0, 3);
    s.put('A', 0, 4);
    s.put('A', -10, 5);
    expect(s.get('A', 0)).toBe(4);
    expect(s.get('A', 10)).toBe(2);
    expect(s.get('A', 20)).toBeUndefined();
    expect(s.get('A', -10)).toBe(5);
    expect(s.pendingChanges()).toEqual([
      { key: windowChangelogKey(json('A'), 0), value: json(4) },
      { key: windowChangelogKey(json('A'), 10), value: json(2) },
      { key: windowChangelogKey(json('B'), 0), value: json(3) },
      { key: windowChangelogKey(json('A'), -10), value: json(5) },
    ]);
  });

  it('committed() persists windows and the checkpoint; rolledBack() drops uncommitted windows', () => {
    const s = windowStore<Stats>();
    s.put('A', 0, { n: 1, sum: 1 });
    s.put('B', -3_600_000, { n: 1, sum: 2 });
    commit(s, 2);
    const agg = s.get('A', 0)!;
    agg.n = 50; // mutated in place
    s.put('A', 0, agg);
    s.put('C', 0, { n: 1, sum: 3 });
    s.rolledBack();
    expect(s.get('A', 0)).toEqual({ n: 1, sum: 1 });
    expect(s.get('C', 0)).toBeUndefined();
    s.close();

    const again = windowStore<Stats>();
    expect(again.checkpoint()).toBe(2);
    expect([...again.entries()]).toEqual([
      { key: 'A', windowStartMs: 0, value: { n: 1, sum: 1 } },
      { key: 'B', windowStartMs: -3_600_000, value: { n: 1, sum: 2 } },
    ]);
    expect(again.count()).toBe(2);
  });

  it('evicts clean windows over the bound at commit', () => {
    const s = windowStore('win.sqlite', 2);
    for (let i = 0; i < 6; i++) s.put('A', i * 10, i);
    commit(s, 6);
    expect(cacheSize(s)).toBe(2);
    s.hits = 0;
    s.misses = 0;
    expect([s.get('A', 40), s.get('A', 50), s.get('A', 0)]).toEqual([4, 5, 0]);
    expect([s.hits, s.misses]).toEqual([2, 1]);
  });

  it('restoring the changelog gives byte-identical content', () => {
    const original = windowStore('original.sqlite', 1);
    const changelog: ChangelogEntry[] = [];
    const batches: [string, number, number][][] = [
      [
        ['A', 0, 1],
        ['B', -10, 2],
        ['A', 0, 3],
      ],
      [
        ['A', 10, 4],
        ['B', -10, 5],
      ],
      [['C', -20, 6]],
    ];
    for (const batch of batches) {
      for (const [k, start, v] of batch) original.put(k, start, v);
      const changes = original.pendingChanges();
      changelog.push(...changes);
      original.committed(changes, changelog.length);
    }
    expect(changelog).toHaveLength(5); // A@0 coalesced within the first batch
    const restored = windowStore('restored.sqlite');
    restored.restore(changelog, changelog.length);
    const rows = (file: string) => {
      const bytes = new SqliteWindowStore('win', tmp.file(file));
      toClose.push(bytes);
      return hexRows(bytes.all());
    };
    expect(rows('restored.sqlite')).toEqual(rows('original.sqlite'));
    expect([...restored.entries()].map((e) => `${e.key}@${e.windowStartMs}=${e.value}`)).toEqual([
      'A@0=3',
      'A@10=4',
      'B@-10=5',
      'C@-20=6',
    ]);
    expect(restored.checkpoint()).toBe(5);
  });

  describe('startingIn(from, to)', () => {
    it('merges cached and committed windows, cached values winning, ordered by start then key bytes', () => {
      const s = windowStore();
      s.put('B', 0, 1, 100);
      s.put('A', 0, 2, 101);
      s.put('A', 10, 3, 102);
      s.put('D', 20, 4, 103);
      s.put('A', -10, 5, 104);
      commit(s, 5);
      s.rolledBack(); // nothing cached: the committed windows come from SQLite
      s.put('B', 0, 10, 105); // a newer value for a committed window
      s.put('C', 10, 11, 106); // a window only in the cache
      s.put('C', -5, 12);
      expect(s.startingIn(0, 20)).toEqual([
        { key: 'A', windowStartMs: 0, value: 2, timestampMs: 101 },
        { key: 'B', windowStartMs: 0, value: 10, timestampMs: 105 },
        { key: 'A', windowStartMs: 10, value: 3, timestampMs: 102 },
        { key: 'C', windowStartMs: 10, value: 11, timestampMs: 106 },
      ]);
    });

    it('honours [from, to): from is included, to is excluded, for cached and committed windows alike', () => {
      const s = windowStore();
      s.put('A', -10, 1);
      s.put('A', 10, 2);
      commit(s, 2);
      s.rolledBack();
      s.put('B', -10, 3);
      s.put('B', 10, 4);
      // written without a timestamp and committed unstamped: unknown (-1)
      expect(s.startingIn(-10, 10)).toEqual([
        { key: 'A', windowStartMs: -10, value: 1, timestampMs: -1 },
        { key: 'B', windowStartMs: -10, value: 3, timestampMs: -1 },
      ]);
      expect(s.startingIn(-9, 11)).toEqual([
        { key: 'A', windowStartMs: 10, value: 2, timestampMs: -1 },
        { key: 'B', windowStartMs: 10, value: 4, timestampMs: -1 },
      ]);
      expect(s.startingIn(10, 10)).toEqual([]);
      expect(s.startingIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).toHaveLength(4);
    });

    it('orders keys by serialized bytes, not by JS string order', () => {
      const s = windowStore();
      s.put('\u{1F600}', 0, 1); // UTF-8 F0 9F ...
      s.put('\uFFFD', 0, 2); // UTF-8 EF BF BD: smaller bytes, larger UTF-16
      commit(s, 2);
      s.put('a', 0, 3);
      expect(s.startingIn(0, 1).map((w) => w.key)).toEqual(['a', '\uFFFD', '\u{1F600}']);
    });

    it('orders string keys by their UTF-8 bytes, not by a length-prefixed serialized form (k1, k10, k2)', () => {
      // a serde that writes a length prefix, as Avro strings are: by serialized bytes k2 would come before k10
      const prefixed = {
        serialize: (k: string) => Buffer.concat([Buffer.from([k.length * 2]), Buffer.from(k)]),
        deserialize: (b: Buffer) => b.subarray(1).toString(),
      };
      const s = new WindowStore<string, number>(
        new SqliteWindowStore('w', tmp.file('p.sqlite')),
        prefixed,
        jsonSerde(),
      );
      toClose.push(s);
      s.put('k2', 0, 1);
      s.put('k10', 0, 2);
      commit(s, 2);
      s.put('k1', 0, 3);
      s.put('k3', 10, 4);
      expect(s.startingIn(0, 20).map((w) => `${w.windowStartMs}:${w.key}`)).toEqual(['0:k1', '0:k10', '0:k2', '10:k3']);
    });

    it('sees windows held only as clean cache entries and only in SQLite alike', () => {
      const s = windowStore('win.sqlite', 1);
      s.put('A', 0, 1);
      s.put('B', 0, 2);
      commit(s, 2); // one of them evicted, the other cached clean
      expect(cacheSize(s)).toBe(1);
      expect(s.startingIn(0, 1).map(({ key, windowStartMs, value }) => ({ key, windowStartMs, value }))).toEqual([
        { key: 'A', windowStartMs: 0, value: 1 },
        { key: 'B', windowStartMs: 0, value: 2 },
      ]);
    });
  });
});

describe('WindowStore: fetch(key, from, to) and remove', () => {
  it('merges committed rows with pending writes and tombstones of the key, both ends inclusive, by start', () => {
    const s = windowStore();
    s.put('a', 10, 1);
    s.put('a', 20, 2);
    s.put('a', 30, 3);
    s.put('b', 20, 9);
    commit(s, 1);
    s.put('a', 20, 22); // pending overwrite
    s.remove('a', 30); // pending tombstone
    s.put('a', 25, 5); // pending new window
    expect(s.fetch('a', 10, 30)).toEqual([
      { windowStartMs: 10, value: 1 },
      { windowStartMs: 20, value: 22 },
      { windowStartMs: 25, value: 5 },
    ]);
    expect(s.fetch('a', 11, 24)).toEqual([{ windowStartMs: 20, value: 22 }]);
    expect(s.fetch('b', 0, 100)).toEqual([{ windowStartMs: 20, value: 9 }]);
    expect(s.fetch('c', 0, 100)).toEqual([]);
    expect(s.get('a', 30)).toBeUndefined();
  });

  it('sends a tombstone for a removed window, and after the commit the window is gone from SQLite', () => {
    const s = windowStore();
    s.put('a', 10, 1);
    commit(s, 1);
    s.remove('a', 10);
    const changes = commit(s, 2);
    expect(changes).toEqual([{ key: windowChangelogKey(Buffer.from(JSON.stringify('a')), 10), value: null }]);
    expect(s.fetch('a', 0, 100)).toEqual([]);
    expect(s.count()).toBe(0);
  });

  it('forgets pending writes after a rollback', () => {
    const s = windowStore();
    s.put('a', 10, 1);
    commit(s, 1);
    s.remove('a', 10);
    s.put('a', 11, 2);
    s.rolledBack();
    expect(s.fetch('a', 0, 100)).toEqual([{ windowStartMs: 10, value: 1 }]);
  });
});
