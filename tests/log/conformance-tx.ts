/**
 * Transaction and compaction parts of the log conformance suite (see `conformance.ts` for the rules).
 */
import { describe, expect, it } from 'vitest';
import type { Log } from '../../src/log/contract.js';
import { readAll, rec, uniqueName } from './helpers.js';

/** Transactions: atomic visibility with group offsets, abort, fencing. */
export function transactionTests(log: () => Log): void {
  describe('transactions', () => {
    it('makes records and group offsets (with metadata) visible together at commit', async () => {
      const out = uniqueName('t-tx-out');
      const src = uniqueName('t-tx-src');
      const group = uniqueName('g-tx');
      await log().createTopics([
        { name: out, partitions: 2 },
        { name: src, partitions: 2 },
      ]);
      const p = log().producer({ transactionalId: uniqueName('tx') });
      const tx = await p.transaction();
      tx.send([rec(out, 0, 'a', '1', 10), rec(out, 1, 'b', '2', 11)]);
      tx.send([rec(out, 0, 'c', '3', 12, { h: 'x' })]);
      tx.sendOffsets(group, [
        { topic: src, partition: 0, offset: 5, metadata: 'streamTime=123' },
        { topic: src, partition: 1, offset: 7 },
      ]);
      expect(await readAll(log(), out, 0)).toEqual([]);
      expect((await log().committedOffsets(group, src)).size).toBe(0);

      const result = await tx.commit();
      const o0 = result.offsets.get(`${out}:0`);
      const o1 = result.offsets.get(`${out}:1`);
      expect(o0?.length).toBe(2);
      expect(o1?.length).toBe(1);
      expect(o0![1]).toBeGreaterThan(o0![0]);
      expect(await readAll(log(), out, 0)).toEqual([
        { topic: out, partition: 0, offset: o0![0], key: 'a', value: '1', headers: {}, timestamp: 10 },
        { topic: out, partition: 0, offset: o0![1], key: 'c', value: '3', headers: { h: 'x' }, timestamp: 12 },
      ]);
      expect((await readAll(log(), out, 1)).map((r) => [r.offset, r.value])).toEqual([[o1![0], '2']]);
      const committed = await log().committedOffsets(group, src);
      expect(committed.get(0)).toEqual({ offset: 5, metadata: 'streamTime=123' });
      expect(committed.get(1)?.offset).toBe(7);
      expect(committed.size).toBe(2);
      await expect(tx.commit()).rejects.toThrow();
      await p.close();
    });

    it('overwrites committed offsets with later commits', async () => {
      const src = uniqueName('t-tx-over');
      const group = uniqueName('g-over');
      await log().createTopics([{ name: src, partitions: 1 }]);
      const p = log().producer({ transactionalId: uniqueName('tx') });
      for (const [offset, metadata] of [
        [3, 'a'],
        [9, 'b'],
      ] as const) {
        const tx = await p.transaction();
        tx.sendOffsets(group, [{ topic: src, partition: 0, offset, metadata }]);
        await tx.commit();
      }
      expect(await log().committedOffsets(group, src)).toEqual(new Map([[0, { offset: 9, metadata: 'b' }]]));
      expect((await log().committedOffsets(uniqueName('g-other'), src)).size).toBe(0);
      await p.close();
    });

    it('makes nothing of an aborted transaction visible', async () => {
      const out = uniqueName('t-abort');
      const group = uniqueName('g-abort');
      await log().createTopics([{ name: out, partitions: 1 }]);
      const p = log().producer({ transactionalId: uniqueName('tx') });
      const tx = await p.transaction();
      tx.send([rec(out, 0, 'a', 'aborted')]);
      tx.sendOffsets(group, [{ topic: out, partition: 0, offset: 1 }]);
      await tx.abort();
      await tx.abort();
      expect(() => tx.send([rec(out, 0, 'b', 'late')])).toThrow();
      const tx2 = await p.transaction();
      tx2.send([rec(out, 0, 'c', 'kept')]);
      await tx2.commit();
      expect((await readAll(log(), out, 0)).map((r) => r.value)).toEqual(['kept']);
      expect((await log().committedOffsets(group, out)).size).toBe(0);
      await p.close();
    });

    it('fences an older producer with the same transactional id', async () => {
      const out = uniqueName('t-fence');
      const group = uniqueName('g-fence');
      const id = uniqueName('tx-fence');
      await log().createTopics([{ name: out, partitions: 1 }]);
      const old = log().producer({ transactionalId: id });
      const zombieTx = await old.transaction();
      zombieTx.send([rec(out, 0, 'z', 'zombie')]);
      zombieTx.sendOffsets(group, [{ topic: out, partition: 0, offset: 100 }]);

      const fresh = log().producer({ transactionalId: id });
      const freshTx = await fresh.transaction();
      freshTx.send([rec(out, 0, 'f', 'fresh')]);
      await expect(zombieTx.commit()).rejects.toMatchObject({ name: 'ProducerFencedError', code: 'PRODUCER_FENCED' });
      await freshTx.commit();

      expect((await readAll(log(), out, 0)).map((r) => r.value)).toEqual(['fresh']);
      expect((await log().committedOffsets(group, out)).size).toBe(0);
      await old.close();
      await fresh.close();
    });
  });
}

/** Compaction of compacted topics. */
export function compactionTests(log: () => Log): void {
  describe('compaction', () => {
    it('keeps the latest record per key, drops deleted keys, keeps offsets', async () => {
      const t = uniqueName('t-compact');
      await log().createTopics([{ name: t, partitions: 1, compacted: true }]);
      await log()
        .producer()
        .send([
          rec(t, 0, 'k1', 'v1', 1),
          rec(t, 0, 'k2', 'v2', 2),
          rec(t, 0, 'k1', 'v3', 3),
          rec(t, 0, 'k3', 'v4', 4),
          rec(t, 0, 'k2', null, 5),
          rec(t, 0, 'k4', 'v5', 6),
        ]);
      await log().compact(t);
      if (log().kind !== 'embedded') {
        // Kafka compacts in the background (rolled segments only): check only that the latest value per key is there.
        const latest = new Map((await readAll(log(), t, 0)).map((r) => [r.key, r.value]));
        expect([...latest.entries()].sort()).toEqual([
          ['k1', 'v3'],
          ['k2', null],
          ['k3', 'v4'],
          ['k4', 'v5'],
        ]);
        return;
      }
      expect((await readAll(log(), t, 0)).map((r) => [r.offset, r.key, r.value, r.timestamp])).toEqual([
        [2, 'k1', 'v3', 3],
        [3, 'k3', 'v4', 4],
        [5, 'k4', 'v5', 6],
      ]);
      expect(await log().offsets(t)).toEqual([{ partition: 0, low: 2, high: 6 }]);
      await log()
        .producer()
        .send([rec(t, 0, 'k3', 'v6', 7)]);
      expect((await readAll(log(), t, 0)).map((r) => r.offset)).toEqual([2, 3, 5, 6]);
    });

    it('leaves an empty partition with low = high when every key was deleted', async () => {
      const t = uniqueName('t-compact-empty');
      await log().createTopics([{ name: t, partitions: 2, compacted: true }]);
      await log()
        .producer()
        .send([rec(t, 1, 'a', '1'), rec(t, 1, 'a', null), rec(t, 1, 'b', '2'), rec(t, 1, 'b', null)]);
      await log().compact(t);
      if (log().kind !== 'embedded') {
        // Kafka compacts in the background: check only that every key's latest record is its tombstone.
        const latest = new Map((await readAll(log(), t, 1)).map((r) => [r.key, r.value]));
        expect([...latest.entries()].sort()).toEqual([
          ['a', null],
          ['b', null],
        ]);
        return;
      }
      expect(await readAll(log(), t, 1)).toEqual([]);
      expect(await log().offsets(t)).toEqual([
        { partition: 0, low: 0, high: 0 },
        { partition: 1, low: 4, high: 4 },
      ]);
    });

    it('does not touch a non-compacted topic', async () => {
      const t = uniqueName('t-nocompact');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send([rec(t, 0, 'a', '1'), rec(t, 0, 'a', '2'), rec(t, 0, 'a', null)]);
      await log().compact(t);
      expect((await readAll(log(), t, 0)).map((r) => `${r.offset}:${r.key}=${r.value}`)).toEqual([
        '0:a=1',
        '1:a=2',
        '2:a=null',
      ]);
    });
  });
}
