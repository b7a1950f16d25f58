/**
 * The log conformance suite: the same scenarios for every `Log` backend (embedded now, Kafka later).
 * Rules for this file: unique topic and group names per test, no timing assertions, generous waits, and no
 * assumption that offsets are contiguous across transactions (Kafka writes a commit marker at an offset).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Log } from '../../src/log/contract.js';
import { adminTests } from './conformance-admin.js';
import { consumerGroupTests } from './conformance-groups.js';
import { pauseResumeTests } from './conformance-pause.js';
import { compactionTests, transactionTests } from './conformance-tx.js';
import { readAll, rec, uniqueName } from './helpers.js';

/** What a backend factory returns: a log and how to dispose of it (and anything it started). */
export interface LogUnderTest {
  log: Log;
  cleanup(): Promise<void>;
}

/**
 * Declares the conformance `describe` blocks for one backend.
 * @param name backend name shown in the test report.
 * @param makeLog creates a fresh log for the suite (called once, in `beforeAll`).
 */
export function logConformanceSuite(name: string, makeLog: () => Promise<LogUnderTest>): void {
  describe(`log conformance: ${name}`, () => {
    let under: LogUnderTest | undefined;
    const log = (): Log => {
      if (under === undefined) throw new Error('log not created');
      return under.log;
    };
    beforeAll(async () => {
      under = await makeLog();
    });
    afterAll(async () => {
      await under?.cleanup();
    });

    topicTests(log);
    appendReadTests(log);
    transactionTests(log);
    compactionTests(log);
    consumerGroupTests(log);
    pauseResumeTests(log);
    adminTests(log);
  });
}

function topicTests(log: () => Log): void {
  describe('topics', () => {
    it('creates, describes and lists topics', async () => {
      const a = uniqueName('t-a');
      const b = uniqueName('t-b');
      await log().createTopics([
        { name: b, partitions: 1, compacted: true },
        { name: a, partitions: 3 },
      ]);
      // Kafka adds the topic's retentionMs and maxMessageBytes (the broker's defaults here)
      expect(await log().describeTopic(a)).toMatchObject({ name: a, partitions: 3, compacted: false });
      expect(await log().describeTopic(b)).toMatchObject({ name: b, partitions: 1, compacted: true });
      expect(await log().describeTopic(uniqueName('t-none'))).toBeUndefined();
      // fresh partition counts of the named topics that exist (what the runtime's partition-count watch reads)
      expect(await log().partitionCounts([a, b, uniqueName('t-none')])).toEqual(
        new Map([
          [a, 3],
          [b, 1],
        ]),
      );
      const listed = (await log().listTopics()).filter((t) => t.name === a || t.name === b);
      expect(listed).toMatchObject([
        { name: a, partitions: 3, compacted: false },
        { name: b, partitions: 1, compacted: true },
      ]);
      expect(await log().offsets(a)).toEqual([
        { partition: 0, low: 0, high: 0 },
        { partition: 1, low: 0, high: 0 },
        { partition: 2, low: 0, high: 0 },
      ]);
    });

    it('is idempotent for an identical spec and keeps the data', async () => {
      const t = uniqueName('t-idem');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await log()
        .producer()
        .send([rec(t, 1, 'k', 'v')]);
      await log().createTopics([{ name: t, partitions: 2, compacted: false }]);
      expect(await log().offsets(t)).toEqual([
        { partition: 0, low: 0, high: 0 },
        { partition: 1, low: 0, high: 1 },
      ]);
    });

    it('rejects a different shape with TopicMismatchError', async () => {
      const t = uniqueName('t-mismatch');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await expect(log().createTopics([{ name: t, partitions: 3 }])).rejects.toMatchObject({
        name: 'TopicMismatchError',
        code: 'TOPIC_MISMATCH',
      });
      await expect(log().createTopics([{ name: t, partitions: 2, compacted: true }])).rejects.toMatchObject({
        code: 'TOPIC_MISMATCH',
      });
      expect(await log().describeTopic(t)).toMatchObject({ name: t, partitions: 2, compacted: false });
    });

    it('deletes topics with their records and committed offsets; unknown names are ignored', async () => {
      const t = uniqueName('t-del');
      const group = uniqueName('g-del');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send([rec(t, 0, 'a', '1'), rec(t, 0, 'b', '2')]);
      const p = log().producer({ transactionalId: uniqueName('tx-del') });
      const tx = await p.transaction();
      tx.sendOffsets(group, [{ topic: t, partition: 0, offset: 2 }]);
      await tx.commit();
      await p.close();
      expect((await log().committedOffsets(group, t)).get(0)?.offset).toBe(2);

      await log().deleteTopics([t, uniqueName('t-never')]);
      expect(await log().describeTopic(t)).toBeUndefined();
      await expect(log().offsets(t)).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });

      await log().createTopics([{ name: t, partitions: 1 }]);
      expect(await log().offsets(t)).toEqual([{ partition: 0, low: 0, high: 0 }]);
      expect(await readAll(log(), t, 0)).toEqual([]);
      expect((await log().committedOffsets(group, t)).size).toBe(0);
    });

    it('throws UnknownTopicError for offsets of an unknown topic', async () => {
      const t = uniqueName('t-unknown');
      await expect(log().offsets(t)).rejects.toMatchObject({ name: 'UnknownTopicError', code: 'UNKNOWN_TOPIC' });
    });
  });
}

function appendReadTests(log: () => Log): void {
  describe('append and read', () => {
    it('appends and reads back keys, values, tombstones, headers and timestamps', async () => {
      const t = uniqueName('t-rw');
      await log().createTopics([{ name: t, partitions: 2 }]);
      const result = await log()
        .producer()
        .send([
          rec(t, 0, 'k1', 'v1', 1_700_000_000_001),
          rec(t, 1, 'k2', 'v2', 1_700_000_000_002, { 'eddy.source': 'flights', trace: 'x' }),
          rec(t, 0, 'k3', null, 1_600_000_000_000),
          rec(t, 0, null, 'no-key', 1_700_000_000_003),
          { topic: t, partition: 1, key: Buffer.from('k4'), value: Buffer.alloc(0), timestamp: 1_700_000_000_004 },
        ]);
      expect([...result.offsets.entries()].sort()).toEqual([
        [`${t}:0`, [0, 1, 2]],
        [`${t}:1`, [0, 1]],
      ]);
      const base = { topic: t, headers: {} };
      expect(await readAll(log(), t, 0)).toEqual([
        { ...base, partition: 0, offset: 0, key: 'k1', value: 'v1', timestamp: 1_700_000_000_001 },
        { ...base, partition: 0, offset: 1, key: 'k3', value: null, timestamp: 1_600_000_000_000 },
        { ...base, partition: 0, offset: 2, key: null, value: 'no-key', timestamp: 1_700_000_000_003 },
      ]);
      expect(await readAll(log(), t, 1)).toEqual([
        {
          topic: t,
          partition: 1,
          offset: 0,
          key: 'k2',
          value: 'v2',
          headers: { 'eddy.source': 'flights', trace: 'x' },
          timestamp: 1_700_000_000_002,
        },
        { ...base, partition: 1, offset: 1, key: 'k4', value: '', timestamp: 1_700_000_000_004 },
      ]);
      const [empty] = await readAll(log(), t, 1, { fromOffset: 1 });
      expect(empty.value).toBe('');
      expect(await log().offsets(t)).toEqual([
        { partition: 0, low: 0, high: 3 },
        { partition: 1, low: 0, high: 2 },
      ]);
    });

    it('keeps binary header values and several headers per record', async () => {
      const t = uniqueName('t-headers');
      await log().createTopics([{ name: t, partitions: 1 }]);
      const bin = Buffer.from([0, 255, 1, 128, 0]);
      await log()
        .producer()
        .send([
          {
            topic: t,
            partition: 0,
            key: Buffer.from('k'),
            value: Buffer.from('v'),
            timestamp: 5,
            headers: { a: Buffer.from('1'), bin, 'eddy.offset': Buffer.from('42') },
          },
        ]);
      const batches: Buffer[][] = [];
      for await (const batch of log().read({ topic: t, partition: 0 })) {
        batches.push(batch.map((r) => r.headers.bin));
        expect(Object.keys(batch[0].headers).sort()).toEqual(['a', 'bin', 'eddy.offset']);
        expect(batch[0].headers['eddy.offset'].toString()).toBe('42');
      }
      expect(batches.length).toBe(1);
      expect([...batches[0][0]]).toEqual([0, 255, 1, 128, 0]);
    });

    it('reads ranges and yields batches of at most maxBatchRecords', async () => {
      const t = uniqueName('t-range');
      await log().createTopics([{ name: t, partitions: 1 }]);
      const records = Array.from({ length: 10 }, (_, i) => rec(t, 0, `k${i}`, `v${i}`, 1000 + i));
      await log().producer().send(records);
      const sizes: number[] = [];
      for await (const b of log().read({ topic: t, partition: 0 }, { maxBatchRecords: 3 })) sizes.push(b.length);
      expect(sizes).toEqual([3, 3, 3, 1]);
      expect((await readAll(log(), t, 0, { fromOffset: 4, toOffset: 8 })).map((r) => r.offset)).toEqual([4, 5, 6, 7]);
      expect((await readAll(log(), t, 0, { fromOffset: 7 })).map((r) => r.value)).toEqual(['v7', 'v8', 'v9']);
      expect(await readAll(log(), t, 0, { fromOffset: 10 })).toEqual([]);
    });

    it('stops at the high watermark of the time of the call', async () => {
      const t = uniqueName('t-hwm');
      await log().createTopics([{ name: t, partitions: 1 }]);
      await log()
        .producer()
        .send([rec(t, 0, 'a', '1'), rec(t, 0, 'b', '2')]);
      const seen: number[] = [];
      for await (const batch of log().read({ topic: t, partition: 0 }, { maxBatchRecords: 1 })) {
        seen.push(...batch.map((r) => r.offset));
        if (seen.length === 1)
          await log()
            .producer()
            .send([rec(t, 0, 'c', '3')]);
      }
      expect(seen).toEqual([0, 1]);
      expect((await readAll(log(), t, 0)).map((r) => r.value)).toEqual(['1', '2', '3']);
    });

    it('rejects unknown topics and partitions on read and send, writing nothing', async () => {
      const t = uniqueName('t-bad');
      await log().createTopics([{ name: t, partitions: 2 }]);
      await expect(readAll(log(), t, 2)).rejects.toMatchObject({ code: 'UNKNOWN_PARTITION' });
      await expect(readAll(log(), uniqueName('t-none'), 0)).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
      await expect(
        log()
          .producer()
          .send([rec(t, 0, 'a', '1'), rec(t, 5, 'b', '2')]),
      ).rejects.toMatchObject({
        code: 'UNKNOWN_PARTITION',
      });
      await expect(
        log()
          .producer()
          .send([rec(uniqueName('t-none'), 0, 'a', '1')]),
      ).rejects.toMatchObject({
        code: 'UNKNOWN_TOPIC',
      });
      expect(await log().offsets(t)).toEqual([
        { partition: 0, low: 0, high: 0 },
        { partition: 1, low: 0, high: 0 },
      ]);
    });
  });
}
