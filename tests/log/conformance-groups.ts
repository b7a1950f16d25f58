/**
 * Consumer-group part of the log conformance suite (see `conformance.ts` for the rules of this suite).
 */
import { describe, expect, it } from 'vitest';
import type { Consumer, ConsumerOptions, Log } from '../../src/log/contract.js';
import { Collector, rec, uniqueName, waitFor } from './helpers.js';

/** A running group member that records what it was given. */
export interface Member {
  readonly consumer: Consumer;
  readonly collector: Collector;
  readonly done: Promise<void>;
  /** Stops the consumer, waits for `run`, closes the member's producer. */
  stop(): Promise<void>;
}

/**
 * Starts a group member. With `commit`, each batch commits `lastOffset + 1` in a transaction of the member's
 * own transactional producer before the batch counts as delivered.
 */
export function startMember(
  log: Log,
  opts: ConsumerOptions,
  options: { commit?: boolean; onIdle?: (c: Collector) => Promise<void>; fail?: Error } = {},
): Member {
  const collector = new Collector();
  const producer = options.commit ? log.producer({ transactionalId: uniqueName('tx-member') }) : undefined;
  const consumer = log.consumer(opts);
  const done = consumer.run({
    async onAssigned(tps) {
      for (const tp of tps) collector.assigned.add(`${tp.topic}:${tp.partition}`);
      collector.events.push(`assigned ${tps.length}`);
    },
    async onRevoked(tps) {
      for (const tp of tps) collector.assigned.delete(`${tp.topic}:${tp.partition}`);
      collector.events.push(`revoked ${tps.length}`);
    },
    async eachBatch(batch) {
      if (options.fail !== undefined) throw options.fail;
      if (producer !== undefined) {
        const tx = await producer.transaction();
        const last = batch.records[batch.records.length - 1].offset;
        tx.sendOffsets(opts.groupId, [{ topic: batch.topic, partition: batch.partition, offset: last + 1 }]);
        await tx.commit();
      }
      collector.batches.push(batch);
      collector.events.push(`batch ${batch.records.length}`);
    },
    async onIdle() {
      collector.events.push('idle');
      await options.onIdle?.(collector);
    },
  });
  done.catch(() => undefined);
  return {
    consumer,
    collector,
    done,
    async stop() {
      await consumer.stop();
      await done;
      await producer?.close();
    },
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Declares the consumer-group scenarios. */
export function consumerGroupTests(log: () => Log): void {
  describe('consumer groups', () => {
    it('delivers every record once, in offset order, in bounded batches, without commits', async () => {
      const t = uniqueName('t-grp');
      await log().createTopics([{ name: t, partitions: 3 }]);
      for (const half of [0, 1]) {
        const records = [0, 1, 2].flatMap((p) =>
          range(0, 10).map((i) => rec(t, p, `k${i}`, `p${p}-v${half * 10 + i}`, 1000 + i)),
        );
        await log().producer().send(records);
      }
      const m = startMember(log(), { groupId: uniqueName('g-grp'), topics: [t], maxBatchRecords: 7 });
      await waitFor(() => m.collector.count() >= 60, '60 records');
      const idleBefore = m.collector.events.filter((e) => e === 'idle').length;
      await waitFor(() => m.collector.events.filter((e) => e === 'idle').length >= idleBefore + 2, 'two idle polls');
      expect(m.collector.assignment()).toEqual([`${t}:0`, `${t}:1`, `${t}:2`]);
      await m.stop();
      for (const p of [0, 1, 2]) {
        const got = m.collector.recordsOf(t, p);
        expect(got.map((r) => r.offset)).toEqual(range(0, 20));
        expect(got.map((r) => r.value)).toEqual(range(0, 20).map((i) => `p${p}-v${i}`));
        expect(got.map((r) => r.key)).toEqual(range(0, 20).map((i) => `k${i % 10}`));
      }
      expect(m.collector.count()).toBe(60);
      expect(m.collector.batches.every((b) => b.records.length <= 7 && b.highWatermark === 20)).toBe(true);
      expect(m.collector.assignment()).toEqual([]);
      expect(m.collector.events.at(-1)).toBe('revoked 3');
    });

    it('starts at committed offsets and resumes where the last member committed', async () => {
      const t = uniqueName('t-resume');
      const groupId = uniqueName('g-resume');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await log()
        .producer()
        .send([0, 1].flatMap((p) => range(0, 10).map((i) => rec(t, p, 'k', `${p}:${i}`))));
      const p = log().producer({ transactionalId: uniqueName('tx-resume') });
      const tx = await p.transaction();
      tx.sendOffsets(groupId, [{ topic: t, partition: 0, offset: 6 }]);
      await tx.commit();
      await p.close();

      const first = startMember(log(), { groupId, topics: [t] }, { commit: true });
      await waitFor(() => first.collector.count() >= 14, '14 records');
      await first.stop();
      expect(first.collector.recordsOf(t, 0).map((r) => r.offset)).toEqual([6, 7, 8, 9]);
      expect(first.collector.recordsOf(t, 1).map((r) => r.offset)).toEqual(range(0, 10));
      const committed = await log().committedOffsets(groupId, t);
      expect([committed.get(0)?.offset, committed.get(1)?.offset]).toEqual([10, 10]);

      await log()
        .producer()
        .send([0, 1].flatMap((p) => range(10, 13).map((i) => rec(t, p, 'k', `${p}:${i}`))));
      const second = startMember(log(), { groupId, topics: [t] }, { commit: true });
      await waitFor(() => second.collector.count() >= 6, '6 new records');
      await second.stop();
      expect(second.collector.recordsOf(t, 0).map((r) => r.value)).toEqual(['0:10', '0:11', '0:12']);
      expect(second.collector.recordsOf(t, 1).map((r) => r.value)).toEqual(['1:10', '1:11', '1:12']);
      expect(second.collector.count()).toBe(6);
    });

    it('delivers only committed transactional records', async () => {
      const t = uniqueName('t-rc');
      await log().createTopics([{ name: t, partitions: 1 }]);
      const m = startMember(log(), { groupId: uniqueName('g-rc'), topics: [t] });
      await waitFor(() => m.collector.events.includes('idle'), 'first idle');
      const p = log().producer({ transactionalId: uniqueName('tx-rc') });
      const tx = await p.transaction();
      tx.send([rec(t, 0, 'a', 'pending-1'), rec(t, 0, 'b', 'pending-2')]);
      const idle = m.collector.events.length;
      await waitFor(() => m.collector.events.slice(idle).filter((e) => e === 'idle').length >= 3, 'idle polls');
      expect(m.collector.count()).toBe(0);
      await tx.commit();
      await waitFor(() => m.collector.count() >= 2, 'committed records');
      await m.stop();
      await p.close();
      expect(m.collector.records().map((r) => r.value)).toEqual(['pending-1', 'pending-2']);
    });

    it('splits co-partitioned partitions between two members and hands them over on stop', async () => {
      const a = uniqueName('t-copa');
      const b = uniqueName('t-copb');
      const groupId = uniqueName('g-copart');
      await log().createTopics([
        { name: a, partitions: 4 },
        { name: b, partitions: 4 },
      ]);
      const all = [a, b].flatMap((t) => range(0, 4).map((p) => `${t}:${p}`)).sort();
      const produce = async (phase: number): Promise<void> => {
        const records = [a, b].flatMap((t) =>
          range(0, 4).flatMap((p) => range(0, 5).map((i) => rec(t, p, `k${i}`, `${phase}-${i}`))),
        );
        await log().producer().send(records);
      };
      const opts = { groupId, topics: [a, b] };
      const m1 = startMember(log(), opts, { commit: true });
      await waitFor(() => m1.collector.assignment().length === 8, 'member 1 owns all 8 partitions');
      await produce(1);
      await waitFor(() => m1.collector.count() === 40, 'phase 1 consumed');

      const m2 = startMember(log(), opts, { commit: true });
      await waitFor(
        () => m1.collector.assignment().length === 4 && m2.collector.assignment().length === 4,
        'a 4/4 split',
      );
      const own1 = m1.collector.assignment();
      const own2 = m2.collector.assignment();
      expect([...own1, ...own2].sort()).toEqual(all);
      for (const own of [own1, own2]) {
        for (const p of range(0, 4)) expect(own.includes(`${a}:${p}`)).toBe(own.includes(`${b}:${p}`));
      }
      const m1Before = m1.collector.count();
      await produce(2);
      await waitFor(() => m1.collector.count() + m2.collector.count() === 80, 'phase 2 consumed');
      const phase2 = (m: Member, from: number): string[] =>
        m.collector
          .records()
          .slice(from)
          .map((r) => `${r.topic}:${r.partition}`);
      expect(new Set(phase2(m1, m1Before))).toEqual(new Set(own1));
      expect(new Set(phase2(m2, 0))).toEqual(new Set(own2));

      await m1.stop();
      await waitFor(() => m2.collector.assignment().length === 8, 'member 2 owns all 8 partitions');
      await produce(3);
      await waitFor(() => m1.collector.count() + m2.collector.count() === 120, 'phase 3 consumed');
      await m2.stop();
      const delivered = [...m1.collector.records(), ...m2.collector.records()];
      for (const tp of all) {
        const offsets = delivered
          .filter((r) => `${r.topic}:${r.partition}` === tp)
          .map((r) => r.offset)
          .sort((x, y) => x - y);
        expect(offsets).toEqual(range(0, 15));
      }
      expect(m1.collector.events.at(-1)).toBe('revoked 4');
    });

    it('calls onIdle when every assigned partition is at its high watermark', async () => {
      const t = uniqueName('t-idle');
      await log().createTopics([{ name: t, partitions: 2 }]);
      const m = startMember(log(), { groupId: uniqueName('g-idle'), topics: [t] });
      await waitFor(() => m.collector.events.includes('idle'), 'idle on an empty topic');
      expect(m.collector.count()).toBe(0);
      await log()
        .producer()
        .send(range(0, 5).map((i) => rec(t, i % 2, 'k', `v${i}`)));
      await waitFor(() => m.collector.count() === 5, '5 records');
      await waitFor(() => m.collector.events.lastIndexOf('idle') > m.collector.events.lastIndexOf('batch 2'), 'idle');
      await m.stop();
      expect(m.collector.count()).toBe(5);
      expect(m.collector.events.filter((e) => e.startsWith('batch')).sort()).toEqual(['batch 2', 'batch 3']);
    });

    it('ends run when stop() is called from inside a handler', async () => {
      const t = uniqueName('t-stop-inside');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send(range(0, 3).map((i) => rec(t, 0, 'k', `v${i}`)));
      let consumer: Consumer | undefined;
      const m = startMember(
        log(),
        { groupId: uniqueName('g-stop-inside'), topics: [t] },
        {
          onIdle: async (c) => {
            if (c.count() === 3) await consumer?.stop();
          },
        },
      );
      consumer = m.consumer;
      await m.done;
      expect(m.collector.records().map((r) => r.value)).toEqual(['v0', 'v1', 'v2']);
      expect(m.collector.events.at(-1)).toBe('revoked 1');
    });

    it('rejects run with the handler error and lets another member take over', async () => {
      const t = uniqueName('t-fail');
      const groupId = uniqueName('g-fail');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await log()
        .producer()
        .send([rec(t, 0, 'a', '1'), rec(t, 1, 'b', '2')]);
      const boom = new Error('boom in eachBatch');
      const failing = startMember(log(), { groupId, topics: [t] }, { fail: boom });
      await expect(failing.done).rejects.toBe(boom);
      const next = startMember(log(), { groupId, topics: [t] });
      await waitFor(() => next.collector.count() === 2, 'both records after takeover');
      await next.stop();
      expect(
        next.collector
          .records()
          .map((r) => `${r.partition}:${r.value}`)
          .sort(),
      ).toEqual(['0:1', '1:2']);
    });
  });
}
