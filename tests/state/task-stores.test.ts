/** TaskStores' lifecycle against a real EmbeddedLog: stepwise restore, progress, close at any point, rebuilds. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, InvalidStateError } from '../../src/errors.js';
import { changelogFixture, contents, KV_CHANGELOG, SPECS, WIN_CHANGELOG } from './task-stores-fixture.js';

type Fixture = Awaited<ReturnType<typeof changelogFixture>>;
let f: Fixture;
let ends: Map<string, number>;

beforeEach(async () => {
  f = await changelogFixture(500);
  ends = new Map();
  for (const topic of [KV_CHANGELOG, WIN_CHANGELOG])
    ends.set(topic, (await f.log.offsets(topic)).find((o) => o.partition === 0)!.high);
});
afterEach(async () => {
  await f.cleanup();
});

describe('TaskStores.restoreStep', () => {
  it('restores in steps of about maxRecords, store after store, reporting progress, until every store is at its end', async () => {
    const reference = await f.restored(0);
    const want = contents(reference);
    await reference.close();
    const { stateDir } = f;
    await f.cleanup();
    f = await changelogFixture(500);
    expect(f.stateDir).not.toBe(stateDir);

    const events: string[] = [];
    const ts = f.stores(0, { onRestore: (store, n, total) => events.push(`${store} ${n}/${total}`) });
    await ts.open();
    expect(ts.restored).toBe(false);
    let steps = 0;
    while (!(await ts.restoreStep(300))) {
      steps++;
      expect(ts.restored).toBe(false);
    }
    expect(ts.restored).toBe(true);
    const kvEnd = ends.get(KV_CHANGELOG)!;
    const winEnd = ends.get(WIN_CHANGELOG)!;
    expect(steps).toBe(Math.ceil((kvEnd + winEnd) / 300) - 1);
    expect(events[0]).toBe(`totals 300/${kvEnd}`);
    expect(events).toContain(`totals ${kvEnd}/${kvEnd}`);
    expect(events[events.length - 1]).toBe(`hourly ${winEnd}/${winEnd}`);
    expect(ts.progress()).toEqual([
      { store: 'totals', restored: kvEnd, total: kvEnd, done: true },
      { store: 'hourly', restored: winEnd, total: winEnd, done: true },
    ]);
    expect(contents(ts)).toEqual(want);
    expect([...ts.stores.keys()]).toEqual(SPECS.map((s) => s.name));
  });

  it('close() during a restore is clean and safe twice; the next open resumes from the checkpoints reached', async () => {
    const ts = f.stores(0);
    await ts.open();
    await ts.restoreStep(250);
    const pending = ts.restoreStep(250);
    await ts.close();
    await ts.close();
    expect(await pending).toBe(false);
    await expect(ts.restoreStep(10)).rejects.toBeInstanceOf(InvalidStateError);

    const reached: number[] = [];
    const again = await f.restored(0, { onRestore: (store, n) => store === 'totals' && reached.push(n) });
    const kvEnd = ends.get(KV_CHANGELOG)!;
    // resumed: the second open restores only what the first did not
    expect(again.progress()[0].total).toBeLessThanOrEqual(kvEnd - 250);
    const fresh = await (async () => {
      const other = await changelogFixture(500);
      try {
        const r = await other.restored(0);
        const c = contents(r);
        await r.close();
        return c;
      } finally {
        await other.cleanup();
      }
    })();
    expect(contents(again)).toEqual(fresh);
    expect(f.quarantined).toEqual([]);
  });

  it('rejects a bad maxRecords, a second open, and a restore before open', async () => {
    const ts = f.stores(0);
    await expect(ts.restoreStep(10)).rejects.toBeInstanceOf(InvalidStateError);
    await ts.open();
    await expect(ts.open()).rejects.toBeInstanceOf(InvalidStateError);
    await expect(ts.restoreStep(0)).rejects.toBeInstanceOf(ConfigError);
    await expect(ts.restoreStep(1.5)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('TaskStores.open', () => {
  it("a changelog without the task's partition: MISSING_CHANGELOG naming the store and changelog", async () => {
    const ts = f.stores(5);
    await expect(ts.open()).rejects.toMatchObject({
      code: 'MISSING_CHANGELOG',
      details: { store: 'totals', changelog: KV_CHANGELOG, partition: 5 },
    });
  });

  it("a store whose checkpoint is beyond its changelog's end (changelog recreated) is rebuilt from empty", async () => {
    const first = await f.restored(0);
    const before = contents(first);
    await first.close();
    await f.log.deleteTopics([KV_CHANGELOG]);
    await f.log.createTopics([{ name: KV_CHANGELOG, partitions: 2, compacted: true }]);
    const producer = f.log.producer();
    await producer.send([
      { topic: KV_CHANGELOG, partition: 0, key: Buffer.from('"only"'), value: Buffer.from('1'), timestamp: 0 },
    ]);
    await producer.close();
    const ts = await f.restored(0);
    const after = contents(ts);
    expect(after.totals).toEqual([{ key: 'only', value: 1 }]);
    expect(after['totals.checkpoint']).toEqual([1]);
    expect(after.hourly).toEqual(before.hourly); // the other store is untouched
    expect(f.quarantined).toEqual([]); // out of date, not damaged: rebuilt, not quarantined
  });
});
