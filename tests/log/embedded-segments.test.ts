/**
 * Embedded storage details: records spread over several segments, large values, compaction across
 * segments, the segment codec and the group assignment functions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/log/contract.js';
import { assignSlots, computeSlots, EmbeddedLog } from '../../src/log/embedded/index.js';
import { decodeSegment, SEGMENT_MAX_RECORDS, SegmentWriter } from '../../src/log/embedded/segment.js';
import { batchSizes, readAll, rec } from './helpers.js';

let dir: string;
let log: EmbeddedLog;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'eddy-seg-'));
  log = EmbeddedLog.open(join(dir, 'log.db'));
});
afterAll(async () => {
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('segments', () => {
  it('reads exact ranges across segment boundaries', async () => {
    expect(SEGMENT_MAX_RECORDS).toBe(1000);
    await log.createTopics([{ name: 'many', partitions: 1 }]);
    const p = log.producer({ transactionalId: 'many' });
    const tx = await p.transaction();
    tx.send(range(0, 2500).map((i) => rec('many', 0, `k${i}`, 'v'.repeat(i % 50) + i, 1_000_000 - i)));
    expect((await tx.commit()).offsets.get('many:0')).toEqual(range(0, 2500));
    await log.producer().send([rec('many', 0, 'last', 'x', 5)]);
    const all = await readAll(log, 'many', 0);
    expect(all.length).toBe(2501);
    expect(all.map((r) => r.offset)).toEqual(range(0, 2501));
    expect(all[1234]).toMatchObject({ key: 'k1234', value: `${'v'.repeat(34)}1234`, timestamp: 1_000_000 - 1234 });
    for (const from of [0, 999, 1000, 1001, 2499, 2500]) {
      const got = await readAll(log, 'many', 0, { fromOffset: from, toOffset: from + 3 });
      expect(got.map((r) => r.offset)).toEqual(range(from, Math.min(from + 3, 2501)));
    }
    expect(await batchSizes(log, 'many', 0, { maxBatchRecords: 700 })).toEqual([700, 700, 700, 401]);
    expect(await batchSizes(log, 'many', 0, { fromOffset: 990, toOffset: 2010, maxBatchRecords: 1000 })).toEqual([
      1000, 20,
    ]);
  });

  it('stores values larger than a segment and empty keys', async () => {
    await log.createTopics([{ name: 'big', partitions: 1 }]);
    const big = Buffer.alloc(1_500_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    const records = [0, 1, 2].map((i) => ({
      topic: 'big',
      partition: 0,
      key: Buffer.alloc(0),
      value: i === 1 ? Buffer.from('small') : big,
      timestamp: i,
    }));
    await log.producer().send(records);
    const out: LogRecord[] = [];
    for await (const b of log.read({ topic: 'big', partition: 0 })) out.push(...b);
    expect(out.map((r) => [r.offset, r.key?.length, r.value?.length])).toEqual([
      [0, 0, 1_500_000],
      [1, 0, 5],
      [2, 0, 1_500_000],
    ]);
    expect(out[2].value?.equals(big)).toBe(true);
  });

  it('keeps unicode header names, empty header values and many headers', async () => {
    await log.createTopics([{ name: 'hdr', partitions: 1 }]);
    const headers: Record<string, Buffer> = { ключ: Buffer.from('значение'), empty: Buffer.alloc(0) };
    for (let i = 0; i < 20; i++) headers[`h${i}`] = Buffer.from(String(i));
    await log.producer().send([{ topic: 'hdr', partition: 0, key: null, value: null, headers, timestamp: 0 }]);
    const [r] = await readAll(log, 'hdr', 0);
    expect(r.headers).toEqual(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.toString()])));
    expect([r.key, r.value, r.timestamp]).toEqual([null, null, 0]);
  });

  it('compacts across segments, rewriting only segments that lost records', async () => {
    await log.createTopics([{ name: 'ctab', partitions: 1, compacted: true }]);
    const records = range(0, 2500).map((i) => rec('ctab', 0, `k${i % 100}`, i >= 2450 && i < 2460 ? null : `v${i}`, i));
    await log.producer().send(records);
    await log.compact('ctab');
    const got = await readAll(log, 'ctab', 0);
    expect(got.map((r) => r.offset)).toEqual(range(2400, 2450).concat(range(2460, 2500)));
    expect(got.map((r) => r.value)).toEqual(
      range(2400, 2450)
        .concat(range(2460, 2500))
        .map((i) => `v${i}`),
    );
    expect(got.map((r) => r.timestamp)).toEqual(got.map((r) => r.offset));
    expect(await log.offsets('ctab')).toEqual([{ partition: 0, low: 2400, high: 2500 }]);
    await log.compact('ctab');
    expect((await readAll(log, 'ctab', 0)).length).toBe(90);
  });
});

describe('segment codec', () => {
  it('round-trips records with gaps and negative timestamp deltas, and rejects unknown formats', () => {
    const w = new SegmentWriter();
    w.start(100, 5_000);
    w.add(100, { key: Buffer.from('a'), value: null, timestamp: 5_000 });
    w.add(103, { key: null, value: Buffer.from('b'), timestamp: 1, headers: { x: Buffer.from('y') } });
    w.add(2_000_000, { key: Buffer.from('c'), value: Buffer.from(''), timestamp: 9_007_199_254_740 });
    expect([w.count, w.lastOffset]).toEqual([3, 2_000_000]);
    const data = Buffer.from(w.bytes());
    const out: LogRecord[] = [];
    expect(decodeSegment('t', 4, 100, data, 101, Number.POSITIVE_INFINITY, out, 10)).toBe(2_000_000);
    expect(out.map((r) => [r.offset, r.key?.toString() ?? null, r.value?.toString() ?? null, r.timestamp])).toEqual([
      [103, null, 'b', 1],
      [2_000_000, 'c', '', 9_007_199_254_740],
    ]);
    expect(out[0].headers.x.toString()).toBe('y');
    expect(out[0]).toMatchObject({ topic: 't', partition: 4 });
    const limited: LogRecord[] = [];
    expect(decodeSegment('t', 4, 100, data, 0, 1_000, limited, 1)).toBe(100);
    expect(limited.length).toBe(1);
    data[0] = 9;
    expect(() => decodeSegment('t', 4, 100, data, 0, 1_000, [], 10)).toThrow(RangeError);
  });
});

describe('group assignment', () => {
  const topics = [
    { name: 'b', partitions: 2 },
    { name: 'a', partitions: 3 },
  ];

  it('builds co-partitioned slots (partition p of every topic) and per-partition slots', () => {
    expect(computeSlots(topics, true)).toEqual([
      {
        id: 'p0',
        tps: [
          { topic: 'a', partition: 0 },
          { topic: 'b', partition: 0 },
        ],
      },
      {
        id: 'p1',
        tps: [
          { topic: 'a', partition: 1 },
          { topic: 'b', partition: 1 },
        ],
      },
      { id: 'p2', tps: [{ topic: 'a', partition: 2 }] },
    ]);
    expect(computeSlots(topics, false).map((s) => s.id)).toEqual(['a:0', 'a:1', 'a:2', 'b:0', 'b:1']);
  });

  it('spreads slots round-robin over members sorted by id', () => {
    const slots = computeSlots(topics, false);
    const ids = (member: string, members: string[]): string[] => assignSlots(slots, members, member).map((s) => s.id);
    expect(ids('m2', ['m2', 'm1'])).toEqual(['a:1', 'b:0']);
    expect(ids('m1', ['m2', 'm1'])).toEqual(['a:0', 'a:2', 'b:1']);
    expect(ids('z', ['a', 'b', 'c', 'd', 'e', 'f', 'z'])).toEqual([]);
    expect(ids('x', ['m1'])).toEqual([]);
  });
});
