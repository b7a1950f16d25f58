/**
 * Store-file faults (issue 9, item 3) against a real EmbeddedLog changelog: a damaged or foreign store file is never
 * read; it is moved to `<stateDir>/quarantine/` (bytes intact), reported, and the store is rebuilt from its changelog
 * and ends equal to the original.
 */
import { copyFileSync, existsSync, readFileSync, renameSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreCorruptError } from '../../src/errors.js';
import { takeCleanMarker, writeCleanMarker } from '../../src/state/store-file.js';
import type { KeyValueStore } from '../../src/state/stores.js';
import { changelogFixture, contents, KV_CHANGELOG, noise, overwrite } from './task-stores-fixture.js';

type Fixture = Awaited<ReturnType<typeof changelogFixture>>;
let f: Fixture;
/** Contents of each task's stores after an undisturbed restore. */
let expected: Record<string, unknown[]>[];

beforeEach(async () => {
  f = await changelogFixture();
  expected = [];
  for (const p of [0, 1]) {
    const ts = await f.restored(p);
    expected.push(contents(ts));
    await ts.close();
  }
  expect(f.quarantined).toEqual([]);
});
afterEach(async () => {
  await f.cleanup();
});

const PAGE = 4096;

/** Damage kinds applied to task 0_0's `totals` file after a clean close; the reason each must be reported with. */
const DAMAGE: { name: string; damage: (path: string) => void; reason: RegExp }[] = [
  {
    name: 'truncated to a whole number of pages',
    damage: (path) => truncateSync(path, Math.floor(statSync(path).size / PAGE / 2) * PAGE),
    reason: /truncated/,
  },
  {
    name: 'truncated mid-page',
    damage: (path) => truncateSync(path, Math.floor(statSync(path).size / 2) + 123),
    reason: /truncated/,
  },
  { name: 'garbage header', damage: (path) => overwrite(path, 0, noise(100)), reason: /not a SQLite database/ },
  {
    name: 'bytes overwritten mid-file',
    damage: (path) => overwrite(path, Math.floor(statSync(path).size / PAGE / 2) * PAGE, noise(PAGE, 11)),
    reason: /quick_check/,
  },
  { name: 'zero length', damage: (path) => truncateSync(path, 0), reason: /zero length/ },
];

describe('TaskStores: a damaged store file is quarantined and rebuilt', () => {
  for (const d of DAMAGE) {
    it(`${d.name}: quarantined with its bytes, reported, rebuilt equal to the original`, async () => {
      const path = f.path(0, 'totals');
      d.damage(path);
      const damaged = readFileSync(path);
      const ts = await f.restored(0);
      expect(contents(ts)).toEqual(expected[0]);
      expect(f.quarantined).toHaveLength(1);
      const q = f.quarantined[0];
      expect(q).toMatchObject({ store: 'totals', task: '0_0', file: path, problem: 'corrupt' });
      expect(q.reason).toMatch(d.reason);
      expect(q.quarantinedTo).toMatch(
        /quarantine\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-shop\.v1-0_0-totals\.sqlite$/,
      );
      expect(f.quarantineFiles()).toContain(q.quarantinedTo.split('/').pop());
      expect(readFileSync(q.quarantinedTo).equals(damaged)).toBe(true);
      // the other store of the task was intact and is not touched
      expect(f.quarantined.map((x) => x.store)).toEqual(['totals']);
    });
  }

  it("two tasks' files swapped: both refused as another store's, both rebuilt equal to their own", async () => {
    for (const store of ['totals', 'hourly']) {
      const a = f.path(0, store);
      const b = f.path(1, store);
      renameSync(a, `${a}.tmp`);
      renameSync(b, a);
      renameSync(`${a}.tmp`, b);
    }
    const t0 = await f.restored(0);
    const t1 = await f.restored(1);
    expect(contents(t0)).toEqual(expected[0]);
    expect(contents(t1)).toEqual(expected[1]);
    expect(f.quarantined.map((q) => `${q.task}/${q.store}:${q.problem}`).sort()).toEqual([
      '0_0/hourly:mismatch',
      '0_0/totals:mismatch',
      '0_1/hourly:mismatch',
      '0_1/totals:mismatch',
    ]);
    const q = f.quarantined.find((x) => x.task === '0_0' && x.store === 'totals')!;
    expect(q.reason).toContain('task is 0_1, expected 0_0');
    expect(q.reason).toContain('partition is 1, expected 0');
    expect(f.quarantineFiles()).toHaveLength(4);
  });

  it('a file of another version of the topology is refused and rebuilt', async () => {
    const v2 = await f.restored(0, { version: 2 });
    await v2.close();
    copyFileSync(f.path(0, 'totals', 2), f.path(0, 'totals'));
    const ts = await f.restored(0);
    expect(contents(ts)).toEqual(expected[0]);
    expect(f.quarantined).toHaveLength(1);
    expect(f.quarantined[0]).toMatchObject({ store: 'totals', task: '0_0', problem: 'mismatch' });
    expect(f.quarantined[0].reason).toContain('version is 2, expected 1');
  });

  it('a file recording another fingerprint is refused; a new file records the expected one', async () => {
    const a = await f.restored(0, { fingerprint: 'aaaa' });
    await a.close();
    expect(f.quarantined.map((q) => q.reason)).toEqual([
      expect.stringContaining('fingerprint is (none), expected aaaa'),
      expect.stringContaining('fingerprint is (none), expected aaaa'),
    ]);
    f.quarantined.length = 0;
    const b = await f.restored(0, { fingerprint: 'bbbb' });
    expect(contents(b)).toEqual(expected[0]);
    expect(f.quarantined.map((q) => q.reason)).toEqual([
      expect.stringContaining('fingerprint is aaaa, expected bbbb'),
      expect.stringContaining('fingerprint is aaaa, expected bbbb'),
    ]);
  });

  it('a stale copy from an older checkpoint is the right store: kept, and restored from its checkpoint to the end', async () => {
    // The copy: task 0_0's files after restoring only part of the changelogs.
    await f.cleanup();
    f = await changelogFixture();
    const partial = f.stores(0);
    await partial.open();
    await partial.restoreStep(700);
    const staleCheckpoints = partial.progress().map((p) => p.restored);
    await partial.close();
    expect(staleCheckpoints[0]).toBeGreaterThan(0);
    const stale = join(f.stateDir, 'stale.sqlite');
    copyFileSync(f.path(0, 'totals'), stale);
    const full = await f.restored(0);
    const want = contents(full);
    await full.close();
    copyFileSync(stale, f.path(0, 'totals'));

    const restoredBy = new Map<string, number>();
    const ts = await f.restored(0, { onRestore: (store, n) => restoredBy.set(store, n) });
    expect(contents(ts)).toEqual(want);
    expect(f.quarantined).toEqual([]);
    // only the tail after the stale checkpoint was read
    const [end] = (await f.log.offsets(KV_CHANGELOG)).filter((o) => o.partition === 0);
    expect(restoredBy.get('totals')).toBe(end.high - staleCheckpoints[0]);
  });
});

describe('store corruption at run time', () => {
  it('a store operation on a damaged page throws StoreCorruptError naming store, task and file; the next open quarantines it', async () => {
    const path = f.path(0, 'totals');
    overwrite(path, Math.floor(statSync(path).size / PAGE / 2) * PAGE, noise(PAGE, 11));
    // Pretend the damage happened after the clean close was recorded (e.g. a disk fault while the file was open):
    // the next open trusts the marker, skips quick_check, and the damage surfaces at run time.
    writeCleanMarker(path);
    const ts = f.stores(0);
    await ts.open();
    expect(await ts.restoreStep(1_000_000)).toBe(true);
    expect(f.quarantined).toEqual([]);
    const totals = ts.stores.get('totals') as KeyValueStore<string, unknown>;
    let thrown: unknown;
    try {
      [...totals.entries()];
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StoreCorruptError);
    const e = thrown as StoreCorruptError;
    expect(e.code).toBe('STORE_CORRUPT');
    expect(e.details).toMatchObject({ store: 'totals', task: '0_0', path });
    expect(e.message).toContain('"totals"');
    expect(e.message).toContain('0_0');
    expect(e.message).toContain(path);
    await ts.close();
    expect(existsSync(`${path}.clean`)).toBe(false);
    expect(existsSync(`${path}.corrupt`)).toBe(true);

    const again = await f.restored(0);
    expect(contents(again)).toEqual(expected[0]);
    expect(f.quarantined).toHaveLength(1);
    expect(f.quarantined[0].reason).toMatch(/a store operation failed: .*malformed/);
    expect(existsSync(`${f.quarantined[0].quarantinedTo}.corrupt`)).toBe(true);
  });
});

describe('clean-close marker', () => {
  it('is valid after a clean close, and stale once the file changed or was replaced', async () => {
    const path = f.path(0, 'totals');
    expect(takeCleanMarker(path)).toBe(true);
    expect(takeCleanMarker(path)).toBe(false); // taken: a crash from now on finds none
    writeCleanMarker(path);
    overwrite(path, 5000, Buffer.from('x'));
    expect(takeCleanMarker(path)).toBe(false);
    writeCleanMarker(path);
    renameSync(f.path(1, 'totals'), path);
    expect(takeCleanMarker(path)).toBe(false);
  });
});
