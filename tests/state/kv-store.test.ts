import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteKeyValueStore } from '../../src/state/kv-store.js';
import { hexRows, tempDir } from './helpers.js';

const b = (s: string) => Buffer.from(s);

let tmp: ReturnType<typeof tempDir>;
const open: SqliteKeyValueStore[] = [];
function openStore(file = 'kv.sqlite', name = 'counts'): SqliteKeyValueStore {
  const s = new SqliteKeyValueStore(name, tmp.file(file));
  open.push(s);
  return s;
}

beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  tmp.cleanup();
});

describe('SqliteKeyValueStore', () => {
  it('starts empty with checkpoint 0', () => {
    const s = openStore();
    expect(s.count()).toBe(0);
    expect(s.checkpoint()).toBe(0);
    expect(s.get(b('a'))).toBeUndefined();
    expect([...s.all()]).toEqual([]);
    expect(s.name).toBe('counts');
    expect(s.path).toBe(tmp.file('kv.sqlite'));
  });

  it('applies puts, overwrites and tombstones, and moves the checkpoint', () => {
    const s = openStore();
    s.apply(
      [
        { key: b('a'), value: b('1') },
        { key: b('b'), value: b('2') },
        { key: b('a'), value: b('3') },
      ],
      3,
    );
    expect(s.get(b('a'))).toEqual(b('3'));
    expect(s.get(b('b'))).toEqual(b('2'));
    expect(s.count()).toBe(2);
    expect(s.checkpoint()).toBe(3);

    s.apply([{ key: b('a'), value: null }], 4);
    expect(s.get(b('a'))).toBeUndefined();
    expect(s.count()).toBe(1);
    expect(s.checkpoint()).toBe(4);
  });

  it('a tombstone for a missing key is a no-op that still moves the checkpoint', () => {
    const s = openStore();
    s.apply([{ key: b('zz'), value: null }], 9);
    expect(s.count()).toBe(0);
    expect(s.checkpoint()).toBe(9);
  });

  it('lists all entries ordered by key bytes (not by insertion, not by JS string order)', () => {
    const s = openStore();
    // UTF-16 order puts U+1F600 (surrogate D83D) before U+FFFD; UTF-8 byte order puts EF BF BD before F0 9F.
    s.apply(
      [
        { key: b('b'), value: b('2') },
        { key: b('\u{1F600}'), value: b('4') },
        { key: b('\uFFFD'), value: b('3') },
        { key: b('a'), value: b('1') },
        { key: Buffer.from([0x00]), value: b('0') },
      ],
      5,
    );
    expect([...s.all()].map((r) => [r.key.toString('hex'), r.value.toString()])).toEqual([
      ['00', '0'],
      ['61', '1'],
      ['62', '2'],
      ['efbfbd', '3'],
      ['f09f9880', '4'],
    ]);
  });

  it('keeps data and checkpoint across close and reopen', () => {
    const s = openStore();
    s.apply(
      [
        { key: b('x'), value: Buffer.from([0, 1, 2, 255]) },
        { key: b('y'), value: b('') },
      ],
      42,
    );
    s.close();
    const again = openStore();
    expect(again.checkpoint()).toBe(42);
    expect(hexRows(again.all())).toEqual(['78@=000102ff', '79@=']);
  });

  it('close() may be called twice', () => {
    const s = openStore();
    s.close();
    expect(() => s.close()).not.toThrow();
    // and the store really is closed
    expect(() => s.count()).toThrow(/not open/);
  });

  it('creates missing parent directories', () => {
    const s = openStore('deep/er/kv.sqlite');
    s.apply([{ key: b('k'), value: b('v') }], 1);
    expect(s.get(b('k'))).toEqual(b('v'));
  });

  it('stores of two names in two files are independent', () => {
    const one = openStore('one.sqlite', 'one');
    const two = openStore('two.sqlite', 'two');
    one.apply([{ key: b('k'), value: b('1') }], 1);
    expect(two.get(b('k'))).toBeUndefined();
    expect(two.checkpoint()).toBe(0);
  });
});
