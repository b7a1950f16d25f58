import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteWindowStore, splitWindowChangelogKey, windowChangelogKey } from '../../src/state/window-store.js';
import { hexRows, tempDir } from './helpers.js';

const b = (s: string) => Buffer.from(s);
const wk = (key: string, startMs: number) => windowChangelogKey(b(key), startMs);

describe('window changelog key', () => {
  it('is the key bytes followed by the start as 8-byte big-endian signed', () => {
    expect(windowChangelogKey(b('ab'), 1).toString('hex')).toBe('6162' + '0000000000000001');
    expect(windowChangelogKey(b('ab'), 3_600_000).toString('hex')).toBe('6162' + '000000000036ee80');
    expect(windowChangelogKey(b('ab'), -1).toString('hex')).toBe('6162' + 'ffffffffffffffff');
    expect(windowChangelogKey(b(''), -3_600_000).toString('hex')).toBe('ffffffffffc91180');
  });

  it.each([
    0,
    1,
    -1,
    3_600_000,
    -3_600_000,
    978_307_200_000,
    -978_307_200_000,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
  ])('round-trips window start %d', (startMs) => {
    for (const key of [b(''), b('SFO'), Buffer.from([0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x80])]) {
      const bytes = windowChangelogKey(key, startMs);
      expect(bytes.length).toBe(key.length + 8);
      const back = splitWindowChangelogKey(bytes);
      expect(back.windowStartMs).toBe(startMs);
      expect(back.key.equals(key)).toBe(true);
    }
  });

  it('rejects a key shorter than 8 bytes with a message naming the length', () => {
    expect(() => splitWindowChangelogKey(Buffer.alloc(7))).toThrow(
      'window changelog key has 7 bytes; at least 8 expected',
    );
    expect(splitWindowChangelogKey(Buffer.alloc(8))).toEqual({ key: Buffer.alloc(0), windowStartMs: 0 });
  });

  it('rejects a window start that is not an integer', () => {
    expect(() => windowChangelogKey(b('a'), 1.5)).toThrow(RangeError);
  });
});

describe('SqliteWindowStore', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteWindowStore;
  beforeEach(() => {
    tmp = tempDir();
    store = new SqliteWindowStore('hourly', tmp.file('win.sqlite'));
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  function fill(): void {
    store.apply(
      [
        { key: wk('B', 0), value: b('b0') },
        { key: wk('A', 10), value: b('a10') },
        { key: wk('A', 0), value: b('a0') },
        { key: wk('A', -10), value: b('a-10') },
        { key: wk('C', 20), value: b('c20') },
        { key: wk('B', 10), value: b('b10') },
      ],
      6,
    );
  }

  it('starts empty with checkpoint 0', () => {
    expect(store.count()).toBe(0);
    expect(store.checkpoint()).toBe(0);
    expect(store.get(b('A'), 0)).toBeUndefined();
  });

  it('decodes changelog keys on apply: one value per (key, window start)', () => {
    fill();
    expect(store.count()).toBe(6);
    expect(store.checkpoint()).toBe(6);
    expect(store.get(b('A'), 0)).toEqual(b('a0'));
    expect(store.get(b('A'), 10)).toEqual(b('a10'));
    expect(store.get(b('A'), -10)).toEqual(b('a-10'));
    expect(store.get(b('A'), 20)).toBeUndefined();
    expect(store.get(b('C'), 20)).toEqual(b('c20'));
  });

  it('overwrites a window and deletes it on a tombstone', () => {
    fill();
    store.apply(
      [
        { key: wk('A', 0), value: b('a0v2') },
        { key: wk('B', 0), value: null },
      ],
      8,
    );
    expect(store.get(b('A'), 0)).toEqual(b('a0v2'));
    expect(store.get(b('B'), 0)).toBeUndefined();
    expect(store.get(b('B'), 10)).toEqual(b('b10'));
    expect(store.count()).toBe(5);
    expect(store.checkpoint()).toBe(8);
  });

  it('byStartRange honours [from, to) and orders by start then key bytes', () => {
    fill();
    const range = (from: number, to: number) =>
      [...store.byStartRange(from, to)].map((e) => `${e.key}@${e.windowStartMs}=${e.value}`);
    expect(range(0, 20)).toEqual(['A@0=a0', 'B@0=b0', 'A@10=a10', 'B@10=b10']);
    expect(range(-10, 0)).toEqual(['A@-10=a-10']);
    expect(range(-11, 21)).toEqual(['A@-10=a-10', 'A@0=a0', 'B@0=b0', 'A@10=a10', 'B@10=b10', 'C@20=c20']);
    expect(range(10, 10)).toEqual([]);
    expect(range(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).toHaveLength(6);
  });

  it('byKey lists one key by start; all() orders by key bytes then start', () => {
    fill();
    expect([...store.byKey(b('A'))].map((e) => e.windowStartMs)).toEqual([-10, 0, 10]);
    expect([...store.byKey(b('Z'))]).toEqual([]);
    expect([...store.all()].map((e) => `${e.key}@${e.windowStartMs}`)).toEqual([
      'A@-10',
      'A@0',
      'A@10',
      'B@0',
      'B@10',
      'C@20',
    ]);
  });

  it('keeps data and checkpoint across close and reopen', () => {
    fill();
    const before = hexRows(store.all());
    store.close();
    store = new SqliteWindowStore('hourly', tmp.file('win.sqlite'));
    expect(store.checkpoint()).toBe(6);
    expect(hexRows(store.all())).toEqual(before);
  });

  it('applies a batch atomically: a bad entry leaves neither data nor checkpoint changed', () => {
    fill();
    expect(() =>
      store.apply(
        [
          { key: wk('D', 0), value: b('d0') },
          { key: Buffer.from('short'), value: b('x') },
        ],
        99,
      ),
    ).toThrow(/at least 8 expected/);
    expect(store.get(b('D'), 0)).toBeUndefined();
    expect(store.count()).toBe(6);
    expect(store.checkpoint()).toBe(6);
  });
});
