/**
 * The Kafka log against a real broker: the shared conformance suite plus Kafka-specific scenarios
 * (transaction markers and aborted records in restore reads, zombie fencing, offset metadata, co-partitioned
 * rebalancing, read throughput). Needs KAFKA_BROKERS (the vitest global setup `tests/infra/global-setup.ts`
 * starts a local broker and sets it); without it this file fails on purpose instead of skipping.
 */
import type { Producer as KafkaJsProducer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidStateError, ProducerFencedError, UnknownTopicError } from '../../src/errors.js';
import type { LogRecord, ProducerRecord, TopicSpec } from '../../src/log/contract.js';
import { KafkaLog, type KafkaLogOptions, markAbortedRecords, stickyAssign } from '../../src/log/kafka/index.js';
import { Partitioners } from '../../src/log/kafka/kafkajs.js';
import { logConformanceSuite } from './conformance.js';
import { startMember } from './conformance-groups.js';
import { readAll, rec, uniqueName, waitFor } from './helpers.js';

const brokersEnv = process.env.KAFKA_BROKERS;
if (!brokersEnv) {
  throw new Error(
    'KAFKA_BROKERS is not set: the Kafka log tests need a broker. Run them with the global setup ' +
      "(test.globalSetup: ['tests/infra/global-setup.ts'] starts one), or start one with `scripts/kafka-local start` " +
      'and set KAFKA_BROKERS=127.0.0.1:9092.',
  );
}
const brokers = brokersEnv.split(',').map((b) => b.trim());

/** Options for test logs: short group timings, kafkajs quiet unless EDDY_KAFKA_LOG_LEVEL says otherwise. */
function options(extra: Partial<KafkaLogOptions> = {}): KafkaLogOptions {
  return {
    brokers,
    clientId: 'eddy-test',
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 500,
    logLevel: (process.env.EDDY_KAFKA_LOG_LEVEL as KafkaLogOptions['logLevel']) ?? 'nothing',
    ...extra,
  };
}

/**
 * A KafkaLog whose new topics keep records forever (`retention.ms=-1`, unless a spec says otherwise), as eddy's own
 * topics do (src/topology/topic-config.ts): the test broker applies time retention every 2 s
 * (scripts/kafka-local), and these tests write records with event times years in the past.
 */
class KeepForeverKafkaLog extends KafkaLog {
  override createTopics(specs: readonly TopicSpec[]): Promise<void> {
    return super.createTopics(specs.map((s) => ({ ...s, config: { 'retention.ms': '-1', ...s.config } })));
  }
}

logConformanceSuite('kafka', async () => {
  const log = new KeepForeverKafkaLog(options());
  return { log, cleanup: () => log.close() };
});

const logs: KafkaLog[] = [];
const rawProducers: KafkaJsProducer[] = [];
afterAll(async () => {
  await Promise.all(rawProducers.map((p) => p.disconnect().catch(() => undefined)));
  await Promise.all(logs.map((l) => l.close()));
});

function newLog(extra: Partial<KafkaLogOptions> = {}): KafkaLog {
  const log = new KeepForeverKafkaLog(options(extra));
  logs.push(log);
  return log;
}

/** A kafkajs transactional producer used directly, to leave records of open or aborted transactions on the log. */
async function rawTransactional(log: KafkaLog, transactionalId: string): Promise<KafkaJsProducer> {
  const p = log.kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  rawProducers.push(p);
  await p.connect();
  return p;
}

function msg(i: number | string, value = `v${i}`) {
  return { partition: 0, key: `k${i}`, value, timestamp: String(1_700_000_000_000 + Number(i || 0)) };
}

/** Waits until partition 0's high watermark is `high`: the commit/abort markers of raw transactions are written. */
async function markersWritten(log: KafkaLog, topic: string, high: number): Promise<void> {
  let current = -1;
  const deadline = Date.now() + 30_000;
  while (current !== high) {
    if (Date.now() > deadline) throw new Error(`high watermark of ${topic} stayed ${current}, expected ${high}`);
    current = (await log.offsets(topic))[0].high;
    if (current !== high) await new Promise((r) => setTimeout(r, 10));
  }
}

async function values(log: KafkaLog, topic: string, partition = 0, opts = {}): Promise<(string | null)[]> {
  return (await readAll(log, topic, partition, opts)).map((r) => r.value);
}

describe('KafkaLog: restore reads across transaction markers and aborted records', () => {
  it('returns exactly the committed records and ends at the end offset (commit, abort, commit, abort at the tail)', async () => {
    const log = newLog();
    const t = uniqueName('k-restore');
    await log.createTopics([{ name: t, partitions: 1 }]);
    const p = await rawTransactional(log, uniqueName('tx-raw'));
    const expected: string[] = [];
    let n = 0;
    for (const [commit, count] of [
      [true, 3],
      [false, 4],
      [true, 2],
      [false, 1],
      [true, 5],
      [false, 3],
    ] as const) {
      const tx = await p.transaction();
      const batch = Array.from({ length: count }, () => msg(n++, `${commit ? 'c' : 'a'}${n}`));
      await tx.send({ topic: t, messages: batch });
      if (commit) {
        await tx.commit();
        expected.push(...batch.map((m) => m.value));
      } else await tx.abort();
    }
    const high = 18 + 6; // 18 records + 6 markers: the log ends with aborted records and their marker
    await markersWritten(log, t, high);
    expect(await values(log, t)).toEqual(expected);
    const sizes: number[] = [];
    for await (const b of log.read({ topic: t, partition: 0 }, { maxBatchRecords: 4 })) sizes.push(b.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(expected.length);
    expect(sizes.every((s) => s <= 4)).toBe(true);
    // from inside an aborted transaction, and to an end inside one
    expect(await values(log, t, 0, { fromOffset: 5 })).toEqual(expected.slice(3));
    expect(await values(log, t, 0, { toOffset: 6 })).toEqual(expected.slice(0, 3));
    expect(await values(log, t, 0, { fromOffset: high - 2 })).toEqual([]);
  });

  it('ends at the last stable offset while a transaction is open, without waiting for it', async () => {
    const log = newLog();
    const t = uniqueName('k-open');
    await log.createTopics([{ name: t, partitions: 1 }]);
    await log.producer().send([rec(t, 0, 'a', 'before')]);
    const p = await rawTransactional(log, uniqueName('tx-open'));
    const tx = await p.transaction();
    await tx.send({ topic: t, messages: [msg(1, 'pending')] });
    await log.producer().send([rec(t, 0, 'b', 'after-open')]); // non-transactional, behind the open one
    expect((await log.offsets(t))[0].high).toBe(3);
    const started = Date.now();
    expect(await values(log, t)).toEqual(['before']);
    expect(Date.now() - started).toBeLessThan(5_000);
    await tx.commit();
    await markersWritten(log, t, 4);
    expect(await values(log, t)).toEqual(['before', 'pending', 'after-open']);
  });

  it('hides interleaved aborted transactions (kafkajs filter bug) from read and from group consumers', async () => {
    const log = newLog();
    const t = uniqueName('k-interleaved');
    await log.createTopics([{ name: t, partitions: 1 }]);
    const p1 = await rawTransactional(log, uniqueName('tx-p1'));
    const p2 = await rawTransactional(log, uniqueName('tx-p2'));
    const p3 = await rawTransactional(log, uniqueName('tx-p3'));
    const t1 = await p1.transaction();
    await t1.send({ topic: t, messages: [msg(0, 'p1-aborted-a')] }); // offset 0
    const t2 = await p2.transaction();
    await t2.send({ topic: t, messages: [msg(1, 'p2-aborted')] }); // offset 1
    await t1.send({ topic: t, messages: [msg(2, 'p1-aborted-b')] }); // offset 2
    await t2.abort(); // marker 3: the broker lists P2's abort before P1's
    await t1.abort(); // marker 4
    const t3 = await p3.transaction();
    await t3.send({ topic: t, messages: [msg(5, 'committed')] });
    await t3.commit();
    await markersWritten(log, t, 7);
    expect(await values(log, t)).toEqual(['committed']);
    expect(await values(log, t, 0, { fromOffset: 2 })).toEqual(['committed']);
    const m = startMember(log, { groupId: uniqueName('g-interleaved'), topics: [t] });
    await waitFor(() => m.collector.events.includes('idle'), 'idle');
    await m.stop();
    expect(m.collector.records().map((r) => r.value)).toEqual(['committed']);
  });

  it('marks aborted records the way the Java client does (unit)', () => {
    const m = (offset: number, pid: string, opts: { control?: boolean; abort?: boolean; tx?: boolean } = {}) => ({
      offset: String(offset),
      timestamp: '0',
      key: opts.control ? Buffer.from([0, 0, 0, opts.abort ? 0 : 1]) : Buffer.from('k'),
      value: null,
      headers: {},
      isControlRecord: opts.control ?? false,
      batchContext: {
        firstOffset: String(offset),
        lastOffsetDelta: 0,
        producerId: pid,
        inTransaction: opts.tx ?? true,
        isControlBatch: opts.control ?? false,
      },
    });
    const messages = [
      m(2, 'A'),
      m(3, 'B', { control: true, abort: true }),
      m(4, 'C'),
      m(5, 'A'),
      m(6, 'A', { control: true, abort: true }),
      m(7, 'D', { tx: false }),
      m(8, 'C', { control: true }),
    ];
    markAbortedRecords(messages, [
      { producerId: 'B', firstOffset: '1' },
      { producerId: 'A', firstOffset: '0' },
    ]);
    expect(messages.filter((x) => !x.isControlRecord).map((x) => x.offset)).toEqual(['4', '7']);
  });
});

describe('KafkaLog: fencing', () => {
  it('fences a zombie with records on the broker; none of them becomes visible', async () => {
    const log = newLog();
    const t = uniqueName('k-zombie');
    const group = uniqueName('g-zombie');
    const id = uniqueName('tx-zombie');
    await log.createTopics([{ name: t, partitions: 2 }]);
    const zombie = await rawTransactional(log, id);
    const ztx = await zombie.transaction();
    await ztx.send({ topic: t, messages: [msg(0, 'zombie-1'), { ...msg(1, 'zombie-2'), partition: 1 }] });
    await ztx.sendOffsets({
      consumerGroupId: group,
      topics: [{ topic: t, partitions: [{ partition: 0, offset: '42' }] }],
    });

    const fresh = log.producer({ transactionalId: id });
    await fresh.init?.(); // InitProducerId: bumps the epoch, aborts the zombie's transaction and waits for it
    expect((await log.offsets(t)).map((o) => o.high)).toEqual([2, 2]); // the abort markers are written already
    expect(await values(log, t, 0)).toEqual([]);
    await expect(ztx.commit()).rejects.toThrow();
    const tx = await fresh.transaction();
    tx.send([rec(t, 0, 'f', 'fresh')]);
    await tx.commit();
    expect(await values(log, t, 0)).toEqual(['fresh']);
    expect(await values(log, t, 1)).toEqual([]);
    expect((await log.committedOffsets(group, t)).size).toBe(0);
    await fresh.close();
  });

  it('keeps a fenced KafkaProducer fenced: commit, transaction() and send throw ProducerFencedError', async () => {
    const log = newLog();
    const t = uniqueName('k-fenced');
    const id = uniqueName('tx-fenced');
    await log.createTopics([{ name: t, partitions: 1 }]);
    const old = log.producer({ transactionalId: id });
    const oldTx = await old.transaction();
    oldTx.send([rec(t, 0, 'o', 'old')]);
    const fresh = log.producer({ transactionalId: id });
    const freshTx = await fresh.transaction();
    const err = await oldTx.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProducerFencedError);
    expect((err as ProducerFencedError).details.transactionalId).toBe(id);
    await expect(old.transaction()).rejects.toBeInstanceOf(ProducerFencedError);
    await expect(old.send([rec(t, 0, 'o', 'old-2')])).rejects.toBeInstanceOf(ProducerFencedError);
    freshTx.send([rec(t, 0, 'f', 'fresh')]);
    const result = await freshTx.commit();
    expect(result.offsets.get(`${t}:0`)).toHaveLength(1);
    expect(await values(log, t)).toEqual(['fresh']);
    await old.close();
    await fresh.close();
  });
});

describe('KafkaLog: committed offset metadata', () => {
  it('round-trips metadata (long, unicode) and drops it when a later commit has none', async () => {
    const log = newLog();
    const t = uniqueName('k-meta');
    const group = uniqueName('g-meta');
    await log.createTopics([{ name: t, partitions: 3 }]);
    const p = log.producer({ transactionalId: uniqueName('tx-meta') });
    const long = `streamTime=${'9'.repeat(2_000)};ä€😀`;
    const tx = await p.transaction();
    tx.sendOffsets(group, [
      { topic: t, partition: 0, offset: 10, metadata: 'streamTime=1700000000000' },
      { topic: t, partition: 2, offset: 0, metadata: long },
    ]);
    tx.sendOffsets(group, [{ topic: t, partition: 0, offset: 11, metadata: 'streamTime=1700000000001' }]);
    await tx.commit();
    expect(await log.committedOffsets(group, t)).toEqual(
      new Map([
        [0, { offset: 11, metadata: 'streamTime=1700000000001' }],
        [2, { offset: 0, metadata: long }],
      ]),
    );
    const tx2 = await p.transaction();
    tx2.sendOffsets(group, [{ topic: t, partition: 2, offset: 5 }]);
    await tx2.commit();
    expect((await log.committedOffsets(group, t)).get(2)).toEqual({ offset: 5 });
    await p.close();
  });
});

describe('KafkaLog: co-partitioned consumer groups', () => {
  it('assigns balanced and sticky (unit)', () => {
    const units = ['0', '1', '2', '3', '4', '5'];
    const first = stickyAssign(units, ['a'], new Map());
    expect(first.get('a')).toEqual(units);
    const two = stickyAssign(units, ['b', 'a'], new Map([['a', units]]));
    expect(two.get('a')).toEqual(['0', '1', '2']);
    expect(two.get('b')).toEqual(['3', '4', '5']);
    const three = stickyAssign(units, ['a', 'b', 'c'], two);
    expect(three.get('a')).toEqual(['0', '1']);
    expect(three.get('b')).toEqual(['3', '4']);
    expect(three.get('c')).toEqual(['2', '5']);
    const back = stickyAssign(units, ['b'], three);
    expect(back.get('b')).toEqual(units);
  });

  it('gives partition p of every topic to one member, hands over on stop, delivers each record once', async () => {
    const log = newLog();
    const [a, b, c] = [uniqueName('k-cpa'), uniqueName('k-cpb'), uniqueName('k-cpc')];
    const groupId = uniqueName('g-cp');
    await log.createTopics([a, b, c].map((name) => ({ name, partitions: 6 })));
    const produce = async (phase: number) => {
      const records: ProducerRecord[] = [];
      for (const t of [a, b, c])
        for (let p = 0; p < 6; p++) for (let i = 0; i < 4; i++) records.push(rec(t, p, `k${i}`, `${phase}`));
      await log.producer().send(records);
    };
    await produce(1);
    const opts = { groupId, topics: [a, b, c], maxBatchRecords: 3 };
    const m1 = startMember(log, opts, { commit: true });
    await waitFor(() => m1.collector.count() === 72, 'member 1 consumed phase 1');
    const m2 = startMember(log, opts, { commit: true });
    await waitFor(
      () => m1.collector.assignment().length === 9 && m2.collector.assignment().length === 9,
      'a 9/9 split',
    );
    for (const m of [m1, m2]) {
      const own = m.collector.assignment();
      const partitions = new Set(own.map((k) => k.slice(k.lastIndexOf(':') + 1)));
      expect(partitions.size).toBe(3);
      for (const p of partitions) for (const t of [a, b, c]) expect(own).toContain(`${t}:${p}`);
    }
    await produce(2);
    await waitFor(() => m1.collector.count() + m2.collector.count() === 144, 'phase 2 consumed');
    await m2.stop();
    await waitFor(() => m1.collector.assignment().length === 18, 'member 1 owns everything again');
    await produce(3);
    await waitFor(() => m1.collector.count() + m2.collector.count() === 216, 'phase 3 consumed');
    await m1.stop();
    const all = [...m1.collector.records(), ...m2.collector.records()];
    const seen = new Set(all.map((r) => `${r.topic}:${r.partition}:${r.offset}`));
    expect(seen.size).toBe(216);
    expect(m2.collector.events.at(-1)).toBe('revoked 9');
    expect(m1.collector.batches.every((x) => x.records.length <= 3)).toBe(true);
    for (const t of [a, b, c]) {
      const committed = await log.committedOffsets(groupId, t);
      expect([...committed.values()].map((x) => x.offset)).toEqual([12, 12, 12, 12, 12, 12]);
    }
  });

  it('calls onIdle while an input has an open transaction (position at the last stable offset)', async () => {
    const log = newLog();
    const t = uniqueName('k-idle-open');
    await log.createTopics([{ name: t, partitions: 1 }]);
    await log.producer().send([rec(t, 0, 'a', 'committed')]);
    const p = await rawTransactional(log, uniqueName('tx-idle'));
    const tx = await p.transaction();
    await tx.send({ topic: t, messages: [msg(1, 'open')] });
    const m = startMember(log, { groupId: uniqueName('g-idle-open'), topics: [t] });
    await waitFor(
      () => m.collector.count() === 1 && m.collector.events.at(-1) === 'idle',
      'idle after the committed record',
    );
    await tx.commit();
    await waitFor(() => m.collector.count() === 2, 'the committed transaction');
    await m.stop();
    expect(m.collector.records().map((r) => r.value)).toEqual(['committed', 'open']);
  });
});

describe('KafkaLog: consumer lifecycle and timing', () => {
  it('runs once, rejects unknown topics, resolves run after stop, and stops running consumers on close', async () => {
    const log = newLog();
    const t = uniqueName('k-life');
    await log.createTopics([{ name: t, partitions: 2 }]);
    const handlers = { eachBatch: async () => {} };
    const c = log.consumer({ groupId: uniqueName('g-life'), topics: [t] });
    const running = c.run(handlers);
    await expect(c.run(handlers)).rejects.toBeInstanceOf(InvalidStateError);
    await c.stop();
    await running;
    const unused = log.consumer({ groupId: uniqueName('g-life'), topics: [t] });
    await unused.stop();
    await unused.run(handlers);
    const missing = log.consumer({ groupId: uniqueName('g-life'), topics: [t, uniqueName('k-missing')] });
    await expect(missing.run(handlers)).rejects.toBeInstanceOf(UnknownTopicError);

    const closing = newLog();
    const m = startMember(closing, { groupId: uniqueName('g-close'), topics: [t] });
    await waitFor(() => m.collector.assignment().length === 2, 'assignment');
    await closing.close();
    await m.done;
    expect(m.collector.events.at(-1)).toBe('revoked 2');
    expect(() => closing.producer()).toThrow(InvalidStateError);
  });

  it('assigns single topic-partitions when not co-partitioned', async () => {
    const log = newLog();
    const [a, b] = [uniqueName('k-nca'), uniqueName('k-ncb')];
    const groupId = uniqueName('g-nc');
    await log.createTopics([
      { name: a, partitions: 1 },
      { name: b, partitions: 3 },
    ]);
    const opts = { groupId, topics: [a, b], coPartitioned: false };
    const m1 = startMember(log, opts);
    const m2 = startMember(log, opts);
    await waitFor(
      () => m1.collector.assignment().length === 2 && m2.collector.assignment().length === 2,
      'a 2/2 split of 4 topic-partitions',
    );
    expect([...m1.collector.assignment(), ...m2.collector.assignment()].sort()).toEqual(
      [`${a}:0`, `${b}:0`, `${b}:1`, `${b}:2`].sort(),
    );
    await m1.stop();
    await m2.stop();
  });

  it('keeps its partitions through a batch handler slower than the session timeout (heartbeats while handling)', async () => {
    const log = newLog({ sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300 });
    const t = uniqueName('k-slow');
    await log.createTopics([{ name: t, partitions: 1 }]);
    await log.producer().send([rec(t, 0, 'a', '1'), rec(t, 0, 'b', '2')]);
    const events: string[] = [];
    const c = log.consumer({ groupId: uniqueName('g-slow'), topics: [t], maxBatchRecords: 1 });
    const done = c.run({
      onAssigned: async (tps) => {
        events.push(`assigned ${tps.length}`);
        await new Promise((r) => setTimeout(r, 4_000)); // a long restore
      },
      onRevoked: async (tps) => {
        events.push(`revoked ${tps.length}`);
      },
      eachBatch: async (batch) => {
        events.push(`batch ${batch.records[0].value}`);
        if (batch.records[0].value?.toString() === '1') await new Promise((r) => setTimeout(r, 4_000));
      },
    });
    await waitFor(() => events.includes('batch 2'), 'both batches');
    await c.stop();
    await done;
    expect(events).toEqual(['assigned 1', 'batch 1', 'batch 2', 'revoked 1']);
  });
});

describe('KafkaLog: paused partitions', () => {
  it('keeps its partitions while they wait for resume longer than the session timeout (heartbeats go on)', async () => {
    const log = newLog({ sessionTimeoutMs: 2_000, heartbeatIntervalMs: 300 });
    const t = uniqueName('k-paused');
    await log.createTopics([{ name: t, partitions: 2 }]);
    await log.producer().send([rec(t, 0, 'a', '1'), rec(t, 1, 'b', '2')]);
    const events: string[] = [];
    const c = log.consumer({ groupId: uniqueName('g-paused'), topics: [t], startPaused: true });
    const done = c.run({
      onAssigned: async (tps) => {
        events.push(`assigned ${tps.length}`);
      },
      onRevoked: async (tps) => {
        events.push(`revoked ${tps.length}`);
      },
      eachBatch: async (batch) => {
        events.push(`batch ${batch.records[0].value}`);
      },
      onIdle: async () => {
        if (!events.includes('idle')) events.push('idle');
      },
    });
    done.catch(() => undefined);
    await waitFor(() => events.includes('assigned 2'), 'assigned');
    await new Promise((r) => setTimeout(r, 5_000)); // 2.5 session timeouts with both partitions paused (a long restore)
    c.resume([
      { topic: t, partition: 0, offset: 0 },
      { topic: t, partition: 1, offset: 0 },
    ]);
    await waitFor(() => events.includes('idle'), 'both batches, then idle');
    await c.stop();
    await done;
    // an expired session would have shown as a revoke and a second assignment before the batches
    expect(events.slice(0, 1)).toEqual(['assigned 2']);
    expect(events.slice(1, 3).sort()).toEqual(['batch 1', 'batch 2']);
    expect(events.slice(3)).toEqual(['idle', 'revoked 2']);
  });
});

describe('KafkaLog: throughput', () => {
  it('measures transactional produce and restore read rates', async () => {
    const log = newLog();
    const t = uniqueName('k-rate');
    await log.createTopics([{ name: t, partitions: 1 }]);
    const value = Buffer.alloc(100, 120);
    const p = log.producer({ transactionalId: uniqueName('tx-rate') });
    const txs = 100;
    const perTx = 2_000;
    let start = performance.now();
    for (let i = 0; i < txs; i++) {
      const tx = await p.transaction();
      tx.send(
        Array.from({ length: perTx }, (_, j) => ({
          topic: t,
          partition: 0,
          key: Buffer.from(`key-${i}-${j}`),
          value,
          headers: { 'eddy.source': Buffer.from('flights') },
          timestamp: 1_700_000_000_000 + j,
        })),
      );
      await tx.commit();
    }
    const produceSeconds = (performance.now() - start) / 1000;
    await p.close();
    const total = txs * perTx;
    start = performance.now();
    let count = 0;
    let last: LogRecord | undefined;
    for await (const batch of log.read({ topic: t, partition: 0 })) {
      count += batch.length;
      last = batch[batch.length - 1];
    }
    const readSeconds = (performance.now() - start) / 1000;
    expect(count).toBe(total);
    expect(last?.key?.toString()).toBe(`key-${txs - 1}-${perTx - 1}`);
    console.log(
      `kafka transactional produce: ${total} records (100 B values) in ${txs} transactions: ${Math.round(total / produceSeconds)} records/s; ` +
        `restore read: ${Math.round(total / readSeconds)} records/s (${readSeconds.toFixed(2)} s)`,
    );
  });
});
