/**
 * Administration part of the log conformance suite (see `conformance.ts` for the rules of this suite):
 * member-less offset commits, `deleteRecords`, `deleteGroups`, `offsetsForTime`.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, RebalanceInProgressError, RecordsDeletedError, UnknownTopicError } from '../../src/errors.js';
import type { Log } from '../../src/log/contract.js';
import { startMember } from './conformance-groups.js';
import { readAll, rec, uniqueName, waitFor } from './helpers.js';

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Declares the administration scenarios. */
export function adminTests(log: () => Log): void {
  describe('administration', () => {
    it('commitOffsets commits for a group with no member, metadata included, across topics', async () => {
      const a = uniqueName('t-cm-a');
      const b = uniqueName('t-cm-b');
      const groupId = uniqueName('g-cm');
      await log().createTopics([
        { name: a, partitions: 2 },
        { name: b, partitions: 1 },
      ]);
      await log()
        .producer()
        .send([rec(a, 0, 'k', 'v'), rec(a, 1, 'k', 'v'), rec(b, 0, 'k', 'v')]);
      await log().commitOffsets(groupId, [
        { topic: a, partition: 0, offset: 1, metadata: '{"t":5}' },
        { topic: a, partition: 1, offset: 0 },
        { topic: b, partition: 0, offset: 1, metadata: 'm' },
      ]);
      expect(await log().committedOffsets(groupId, a)).toEqual(
        new Map([
          [0, { offset: 1, metadata: '{"t":5}' }],
          [1, { offset: 0 }],
        ]),
      );
      expect(await log().committedOffsets(groupId, b)).toEqual(new Map([[0, { offset: 1, metadata: 'm' }]]));
      // a later commit (a reset) moves them, backwards too
      await log().commitOffsets(groupId, [{ topic: a, partition: 0, offset: 0 }]);
      expect((await log().committedOffsets(groupId, a)).get(0)).toEqual({ offset: 0 });
      await expect(log().commitOffsets(groupId, [{ topic: a, partition: 0, offset: -1 }])).rejects.toBeInstanceOf(
        ConfigError,
      );
      await expect(
        log().commitOffsets(groupId, [{ topic: uniqueName('t-none'), partition: 0, offset: 0 }]),
      ).rejects.toBeInstanceOf(UnknownTopicError);
    });

    it('commitOffsets and deleteGroups refuse a group with an active member (RebalanceInProgressError)', async () => {
      const t = uniqueName('t-busy');
      const groupId = uniqueName('g-busy');
      await log().createTopics([{ name: t, partitions: 1 }]);
      const m = startMember(log(), { groupId, topics: [t] });
      try {
        await waitFor(() => m.collector.assignment().length === 1, 'assigned');
        await expect(log().commitOffsets(groupId, [{ topic: t, partition: 0, offset: 0 }])).rejects.toBeInstanceOf(
          RebalanceInProgressError,
        );
        await expect(log().deleteGroups([groupId])).rejects.toBeInstanceOf(RebalanceInProgressError);
      } finally {
        await m.stop();
      }
      expect(await log().committedOffsets(groupId, t)).toEqual(new Map());
      // once the member left, both work
      await log().commitOffsets(groupId, [{ topic: t, partition: 0, offset: 0, metadata: 'x' }]);
      expect(await log().committedOffsets(groupId, t)).toEqual(new Map([[0, { offset: 0, metadata: 'x' }]]));
    });

    it('deleteGroups deletes committed offsets; unknown groups are ignored', async () => {
      const t = uniqueName('t-dg');
      const g1 = uniqueName('g-dg1');
      const g2 = uniqueName('g-dg2');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send([rec(t, 0, 'k', 'v')]);
      await log().commitOffsets(g1, [{ topic: t, partition: 0, offset: 1 }]);
      await log().commitOffsets(g2, [{ topic: t, partition: 0, offset: 1 }]);
      await log().deleteGroups([g1, uniqueName('g-unknown')]);
      expect(await log().committedOffsets(g1, t)).toEqual(new Map());
      expect(await log().committedOffsets(g2, t)).toEqual(new Map([[0, { offset: 1 }]]));
    });

    it('deleteRecords moves the log start; reads start there; out-of-range offsets are refused or ignored', async () => {
      const t = uniqueName('t-del');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await log()
        .producer()
        .send(range(0, 2500).map((i) => rec(t, 0, `k${i}`, `v${i}`)));
      await log().deleteRecords({ topic: t, partition: 0 }, 1234);
      expect((await log().offsets(t))[0]).toEqual({ partition: 0, low: 1234, high: 2500 });
      const left = await readAll(log(), t, 0);
      expect(left.map((r) => r.offset)).toEqual(range(1234, 2500));
      expect(left[0].value).toBe('v1234');
      // from below the log start: starts at the log start
      expect((await readAll(log(), t, 0, { fromOffset: 0, toOffset: 1236 })).map((r) => r.offset)).toEqual([
        1234, 1235,
      ]);
      await log().deleteRecords({ topic: t, partition: 0 }, 100); // below low: nothing happens
      expect((await log().offsets(t))[0].low).toBe(1234);
      await expect(log().deleteRecords({ topic: t, partition: 0 }, 2501)).rejects.toBeInstanceOf(ConfigError);
      await log().deleteRecords({ topic: t, partition: 0 }, 2500); // everything
      expect((await log().offsets(t))[0]).toEqual({ partition: 0, low: 2500, high: 2500 });
      expect(await readAll(log(), t, 0)).toEqual([]);
      expect((await log().offsets(t))[1]).toEqual({ partition: 1, low: 0, high: 0 });
      // appends go on at the high watermark
      await log()
        .producer()
        .send([rec(t, 0, 'k', 'after')]);
      expect((await readAll(log(), t, 0)).map((r) => [r.offset, r.value])).toEqual([[2500, 'after']]);
    });

    it('a read whose position falls below the log start while reading throws RecordsDeletedError', async () => {
      const t = uniqueName('t-delread');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send(range(0, 50).map((i) => rec(t, 0, `k${i}`, `v${i}`)));
      const seen: number[] = [];
      const reading = (async () => {
        for await (const batch of log().read({ topic: t, partition: 0 }, { maxBatchRecords: 10 })) {
          for (const r of batch) seen.push(r.offset);
          if (seen.length === 10) await log().deleteRecords({ topic: t, partition: 0 }, 40);
        }
      })();
      const err = await reading.then(
        () => undefined,
        (e: unknown) => e,
      );
      // Kafka may have fetched ahead (one fetch of everything): then the deletion came too late to matter
      if (seen.length < 50) {
        expect(err).toBeInstanceOf(RecordsDeletedError);
        expect((err as RecordsDeletedError).details).toMatchObject({ topic: t, partition: 0, logStart: 40 });
        expect(seen.at(-1)! < 40).toBe(true);
      } else {
        expect(seen).toEqual(range(0, 50));
      }
    });

    it('offsetsForTime finds the first offset at or after a timestamp, else the high watermark', async () => {
      const t = uniqueName('t-time');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await log()
        .producer()
        .send([1_000, 2_000, 3_000, 4_000].map((ts, i) => rec(t, 0, `k${i}`, `v${i}`, ts)));
      expect(await log().offsetsForTime(t, 0)).toEqual(
        new Map([
          [0, 0],
          [1, 0],
        ]),
      );
      expect((await log().offsetsForTime(t, 2_500)).get(0)).toBe(2);
      expect((await log().offsetsForTime(t, 3_000)).get(0)).toBe(2);
      expect((await log().offsetsForTime(t, 9_000)).get(0)).toBe(4);
      await expect(log().offsetsForTime(uniqueName('t-none'), 0)).rejects.toBeInstanceOf(UnknownTopicError);
    });
  });
}
