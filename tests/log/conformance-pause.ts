/**
 * Pause/resume part of the log conformance suite (see `conformance.ts` for the rules of this suite):
 * `ConsumerOptions.startPaused`, `Consumer.pause`, `Consumer.resume`, `onIdle` with paused partitions, and
 * `RecordsDeletedError` for positions below the log start.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, RecordsDeletedError } from '../../src/errors.js';
import type { Consumer, ConsumerHandlers, ConsumerOptions, Log } from '../../src/log/contract.js';
import { Collector, rec, uniqueName, waitFor } from './helpers.js';

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * Waits long enough for a consumer's idle check to have run (Kafka checks after 250 ms without batches), so that
 * "no idle event" means the check ran and said not idle. Not a timing assertion: nothing measures this wait.
 */
const pastIdleCheck = (): Promise<void> => new Promise((r) => setTimeout(r, 1_500));

/** A member whose handlers record into a collector; `hooks` run inside the handlers. */
function run(
  log: Log,
  opts: ConsumerOptions,
  hooks: {
    onAssigned?: (c: Consumer) => void;
    eachBatch?: (c: Consumer, b: Parameters<ConsumerHandlers['eachBatch']>[0]) => void;
  } = {},
): { consumer: Consumer; collector: Collector; done: Promise<void> } {
  const collector = new Collector();
  const consumer = log.consumer(opts);
  const done = consumer.run({
    async onAssigned(tps) {
      for (const tp of tps) collector.assigned.add(`${tp.topic}:${tp.partition}`);
      collector.events.push(`assigned ${tps.length}`);
      hooks.onAssigned?.(consumer);
    },
    async onRevoked(tps) {
      for (const tp of tps) collector.assigned.delete(`${tp.topic}:${tp.partition}`);
      collector.events.push(`revoked ${tps.length}`);
    },
    async eachBatch(batch) {
      collector.batches.push(batch);
      collector.events.push(`batch ${batch.topic}:${batch.partition}`);
      hooks.eachBatch?.(consumer, batch);
    },
    async onIdle() {
      collector.events.push('idle');
    },
  });
  done.catch(() => undefined);
  return { consumer, collector, done };
}

/** Declares the pause/resume scenarios. */
export function pauseResumeTests(log: () => Log): void {
  describe('pause and resume', () => {
    it('startPaused: delivers nothing and is not idle until resume; starts where resume says, not at the group offset', async () => {
      const t = uniqueName('t-sp');
      const groupId = uniqueName('g-sp');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await log()
        .producer()
        .send([0, 1].flatMap((p) => range(0, 10).map((i) => rec(t, p, 'k', `${p}:${i}`))));
      // the group's own committed offsets must be ignored under startPaused
      await log().commitOffsets(groupId, [
        { topic: t, partition: 0, offset: 8 },
        { topic: t, partition: 1, offset: 8 },
      ]);
      const m = run(log(), { groupId, topics: [t], startPaused: true, maxBatchRecords: 3 });
      await waitFor(() => m.collector.assignment().length === 2, 'both partitions assigned');
      // resuming a partition that is not assigned is ignored (and does not stop the consumer)
      m.consumer.resume([{ topic: uniqueName('t-other'), partition: 0, offset: 0 }]);
      m.consumer.resume([{ topic: t, partition: 0, offset: 2 }]);
      await waitFor(() => m.collector.recordsOf(t, 0).length === 8, 'partition 0 from offset 2');
      await pastIdleCheck();
      // partition 0 was delivered to its end while partition 1 waits: no batch of 1, and not idle
      expect(m.collector.recordsOf(t, 1)).toEqual([]);
      expect(m.collector.events).not.toContain('idle');
      m.consumer.resume([{ topic: t, partition: 1, offset: 5 }]);
      await waitFor(() => m.collector.events.includes('idle'), 'idle once everything is resumed and read');
      await m.consumer.stop();
      await m.done;
      expect(m.collector.recordsOf(t, 0).map((r) => r.offset)).toEqual(range(2, 10));
      expect(m.collector.recordsOf(t, 1).map((r) => r.offset)).toEqual(range(5, 10));
      // resume does not commit anything
      const committed = await log().committedOffsets(groupId, t);
      expect([committed.get(0)?.offset, committed.get(1)?.offset]).toEqual([8, 8]);
    });

    it('resume given while onAssigned runs is applied once it resolved; called twice, the latest wins', async () => {
      const t = uniqueName('t-early');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send(range(0, 6).map((i) => rec(t, 0, 'k', `v${i}`)));
      const m = run(
        log(),
        { groupId: uniqueName('g-early'), topics: [t], startPaused: true },
        {
          onAssigned: (c) => {
            c.resume([{ topic: t, partition: 0, offset: 1 }]);
            c.resume([{ topic: t, partition: 0, offset: 4 }]);
          },
        },
      );
      await waitFor(() => m.collector.count() >= 2, 'offsets 4 and 5');
      await pastIdleCheck();
      await m.consumer.stop();
      await m.done;
      expect(m.collector.recordsOf(t, 0).map((r) => r.offset)).toEqual([4, 5]);
      expect(m.collector.events).toContain('idle');
    });

    it('pause stops a delivering partition after the batch in flight; resume seeks; a resume during a batch is not overwritten', async () => {
      const t = uniqueName('t-pause');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await log()
        .producer()
        .send([0, 1].flatMap((p) => range(0, 12).map((i) => rec(t, p, 'k', `${p}:${i}`))));
      let paused = false;
      const m = run(
        log(),
        { groupId: uniqueName('g-pause'), topics: [t], maxBatchRecords: 2 },
        {
          eachBatch: (c, b) => {
            if (b.partition === 0 && !paused) {
              paused = true;
              c.pause([{ topic: t, partition: 0 }]);
            }
          },
        },
      );
      await waitFor(() => m.collector.recordsOf(t, 1).length === 12, 'partition 1 read to its end');
      await pastIdleCheck();
      expect(m.collector.recordsOf(t, 0).map((r) => r.offset)).toEqual([0, 1]);
      expect(m.collector.events).not.toContain('idle');
      // resume at 6 from outside any handler: 2..5 are skipped on purpose (a seek), 6..11 delivered
      m.consumer.resume([{ topic: t, partition: 0, offset: 6 }]);
      await waitFor(() => m.collector.events.includes('idle'), 'idle after resume');
      await m.consumer.stop();
      await m.done;
      expect(m.collector.recordsOf(t, 0).map((r) => r.offset)).toEqual([0, 1, ...range(6, 12)]);
    });

    it('a resume from inside a batch handler seeks the same partition (the batch does not move the position)', async () => {
      const t = uniqueName('t-seek');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send(range(0, 10).map((i) => rec(t, 0, 'k', `v${i}`)));
      let seeked = false;
      const m = run(
        log(),
        { groupId: uniqueName('g-seek'), topics: [t], maxBatchRecords: 4 },
        {
          eachBatch: (c) => {
            if (!seeked) {
              seeked = true;
              c.resume([{ topic: t, partition: 0, offset: 1 }]);
            }
          },
        },
      );
      await waitFor(() => m.collector.count() >= 13, '0..3 then 1..9');
      await pastIdleCheck();
      await m.consumer.stop();
      await m.done;
      expect(m.collector.recordsOf(t, 0).map((r) => r.offset)).toEqual([0, 1, 2, 3, ...range(1, 10)]);
    });

    it('resume below the log start rejects run with RecordsDeletedError naming the lost offsets', async () => {
      const t = uniqueName('t-lost');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send(range(0, 10).map((i) => rec(t, 0, 'k', `v${i}`)));
      await log().deleteRecords({ topic: t, partition: 0 }, 5);
      const m = run(log(), { groupId: uniqueName('g-lost'), topics: [t], startPaused: true });
      await waitFor(() => m.collector.assignment().length === 1, 'assigned');
      m.consumer.resume([{ topic: t, partition: 0, offset: 2 }]);
      const err = await m.done.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RecordsDeletedError);
      expect((err as RecordsDeletedError).details).toMatchObject({
        topic: t,
        partition: 0,
        position: 2,
        logStart: 5,
        lost: 3,
      });
      expect(m.collector.count()).toBe(0);
    });

    it('resume above the high watermark rejects run with ConfigError; a negative offset throws at once', async () => {
      const t = uniqueName('t-high');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send([rec(t, 0, 'k', 'v')]);
      const m = run(log(), { groupId: uniqueName('g-high'), topics: [t], startPaused: true });
      await waitFor(() => m.collector.assignment().length === 1, 'assigned');
      expect(() => m.consumer.resume([{ topic: t, partition: 0, offset: -1 }])).toThrow(ConfigError);
      m.consumer.resume([{ topic: t, partition: 0, offset: 5 }]);
      await expect(m.done).rejects.toBeInstanceOf(ConfigError);
    });

    it('a committed offset below the log start rejects run with RecordsDeletedError (never skips ahead)', async () => {
      const t = uniqueName('t-gone');
      const groupId = uniqueName('g-gone');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send(range(0, 10).map((i) => rec(t, 0, 'k', `v${i}`)));
      await log().commitOffsets(groupId, [{ topic: t, partition: 0, offset: 3 }]);
      await log().deleteRecords({ topic: t, partition: 0 }, 7);
      const m = run(log(), { groupId, topics: [t] });
      const err = await m.done.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RecordsDeletedError);
      expect((err as RecordsDeletedError).details).toMatchObject({ position: 3, logStart: 7, lost: 4 });
      expect(m.collector.count()).toBe(0);
    });
  });
}
