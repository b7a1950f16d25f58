import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  InvalidStateError,
  ProducerFencedError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../../src/errors.js';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import { logConformanceSuite } from './conformance.js';
import { startMember } from './conformance-groups.js';
import { readAll, rec, waitFor } from './helpers.js';

const dirs: string[] = [];

/** A fresh temp dir, removed after the file's tests. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-log-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

logConformanceSuite('embedded', async () => {
  const log = EmbeddedLog.open(join(tempDir(), 'nested', '.eddy', 'log.db'));
  return { log, cleanup: () => log.close() };
});

describe('EmbeddedLog basics', () => {
  it('creates parent directories and only log_-prefixed tables', async () => {
    const path = join(tempDir(), 'a', 'b', 'log.db');
    const log = EmbeddedLog.open(path);
    await log.createTopics([{ name: 't', partitions: 1 }]);
    await log.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path, { readonly: true });
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
      .pluck()
      .all() as string[];
    const journal = db.pragma('journal_mode', { simple: true });
    db.close();
    expect(tables).toEqual([
      'log_group_claims',
      'log_group_members',
      'log_group_offsets',
      'log_groups',
      'log_meta',
      'log_partitions',
      'log_producers',
      'log_segments',
      'log_topics',
    ]);
    expect(journal).toBe('wal');
  });
});

describe('EmbeddedLog errors and state', () => {
  it('throws typed errors with details for unknown topics and partitions', async () => {
    const log = EmbeddedLog.open(join(tempDir(), 'log.db'));
    await log.createTopics([{ name: 'known', partitions: 2 }]);
    const unknownTopic = await log.offsets('nope').catch((e: unknown) => e);
    expect(unknownTopic).toBeInstanceOf(UnknownTopicError);
    expect((unknownTopic as UnknownTopicError).details).toEqual({ topic: 'nope' });
    expect((unknownTopic as Error).message).toContain('Known topics: known.');
    const badPartition = await log
      .producer()
      .send([rec('known', 2, 'k', 'v')])
      .catch((e: unknown) => e);
    expect(badPartition).toBeInstanceOf(UnknownPartitionError);
    expect((badPartition as UnknownPartitionError).details).toEqual({ topic: 'known', partition: 2, partitions: 2 });
    await expect(readAll(log, 'known', -1)).rejects.toBeInstanceOf(UnknownPartitionError);
    await expect(readAll(log, 'known', 0.5)).rejects.toBeInstanceOf(UnknownPartitionError);
    await expect(log.committedOffsets('g', 'nope')).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(log.compact('nope')).rejects.toBeInstanceOf(UnknownTopicError);
    const tx = await log.producer({ transactionalId: 'tx-bad' }).transaction();
    tx.sendOffsets('g', [{ topic: 'known', partition: 7, offset: 1 }]);
    await expect(tx.commit()).rejects.toBeInstanceOf(UnknownPartitionError);
    expect((await log.committedOffsets('g', 'known')).size).toBe(0);
    await log.close();
  });

  it('rejects invalid topic specs, read options and consumer options with ConfigError', async () => {
    const log = EmbeddedLog.open(join(tempDir(), 'log.db'));
    await expect(log.createTopics([{ name: 'bad name', partitions: 1 }])).rejects.toBeInstanceOf(ConfigError);
    await expect(log.createTopics([{ name: 'ok', partitions: 0 }])).rejects.toBeInstanceOf(ConfigError);
    await expect(log.createTopics([{ name: '..', partitions: 1 }])).rejects.toBeInstanceOf(ConfigError);
    expect(await log.listTopics()).toEqual([]);
    await log.createTopics([{ name: 'ok', partitions: 1 }]);
    await expect(readAll(log, 'ok', 0, { maxBatchRecords: 0 })).rejects.toBeInstanceOf(ConfigError);
    expect(() => log.consumer({ groupId: '', topics: ['ok'] })).toThrow(ConfigError);
    expect(() => log.consumer({ groupId: 'g', topics: [] })).toThrow(ConfigError);
    expect(() => log.consumer({ groupId: 'g', topics: ['ok'], maxBatchRecords: 1.5 })).toThrow(ConfigError);
    const tx = await log.producer().transaction();
    expect(() => tx.sendOffsets('g', [{ topic: 'ok', partition: 0, offset: -1 }])).toThrow(ConfigError);
    const producer = log.producer();
    await expect(producer.send([rec('ok', 0, 'k', 'v', 1.5)])).rejects.toBeInstanceOf(ConfigError);
    await expect(producer.send([rec('ok', 0, 'k', 'v', Number.NaN)])).rejects.toBeInstanceOf(ConfigError);
    const stringValue = { ...rec('ok', 0, 'k', null), value: 'text' as unknown as Buffer };
    await expect(producer.send([rec('ok', 0, 'k', 'fine'), stringValue])).rejects.toBeInstanceOf(ConfigError);
    expect(await log.offsets('ok')).toEqual([{ partition: 0, low: 0, high: 0 }]);
    await log.close();
  });

  it('enforces transaction and producer states with InvalidStateError', async () => {
    const log = EmbeddedLog.open(join(tempDir(), 'log.db'));
    await log.createTopics([{ name: 't', partitions: 1 }]);
    const p = log.producer({ transactionalId: 'tx-state' });
    expect(p.transactionalId).toBe('tx-state');
    const tx = await p.transaction();
    await expect(p.transaction()).rejects.toBeInstanceOf(InvalidStateError);
    tx.send([rec('t', 0, 'k', 'v')]);
    const result = await tx.commit();
    expect(result.offsets).toEqual(new Map([['t:0', [0]]]));
    expect(() => tx.send([])).toThrow(InvalidStateError);
    expect(() => tx.sendOffsets('g', [])).toThrow(InvalidStateError);
    await expect(tx.commit()).rejects.toBeInstanceOf(InvalidStateError);
    await expect(tx.abort()).rejects.toBeInstanceOf(InvalidStateError);
    const open = await p.transaction();
    open.send([rec('t', 0, 'k', 'never')]);
    await p.close();
    await p.close();
    await expect(open.commit()).rejects.toBeInstanceOf(InvalidStateError);
    await expect(p.send([rec('t', 0, 'k', 'v')])).rejects.toBeInstanceOf(InvalidStateError);
    expect((await readAll(log, 't', 0)).map((r) => r.value)).toEqual(['v']);
    await log.close();
    await log.close();
    expect(() => log.producer()).toThrow(InvalidStateError);
    await expect(log.listTopics()).rejects.toBeInstanceOf(InvalidStateError);
  });

  it('fences a transactional producer on send too, and keeps it fenced', async () => {
    const log = EmbeddedLog.open(join(tempDir(), 'log.db'));
    await log.createTopics([{ name: 't', partitions: 1 }]);
    const old = log.producer({ transactionalId: 'same' });
    log.producer({ transactionalId: 'same' });
    const err = await old.send([rec('t', 0, 'k', 'v')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProducerFencedError);
    expect((err as ProducerFencedError).details).toEqual({ transactionalId: 'same', epoch: 0, currentEpoch: 1 });
    await expect(old.transaction()).rejects.toBeInstanceOf(ProducerFencedError);
    expect(await log.offsets('t')).toEqual([{ partition: 0, low: 0, high: 0 }]);
    await log.close();
  });

  it('keeps topics, records, offsets, compaction state and epochs across close and reopen', async () => {
    const path = join(tempDir(), 'log.db');
    const first = EmbeddedLog.open(path);
    await first.createTopics([
      { name: 'data', partitions: 2 },
      { name: 'table', partitions: 1, compacted: true, config: { 'min.compaction.lag.ms': '0' } },
    ]);
    await first
      .producer()
      .send([rec('data', 1, 'a', '1', 7, { h: 'x' }), rec('table', 0, 'k', '1'), rec('table', 0, 'k', '2')]);
    await first.compact('table');
    const p = first.producer({ transactionalId: 'persisted' });
    const tx = await p.transaction();
    tx.sendOffsets('g', [{ topic: 'data', partition: 1, offset: 1, metadata: 'm' }]);
    await tx.commit();
    await first.close();

    const second = EmbeddedLog.open(path);
    expect(await second.listTopics()).toEqual([
      { name: 'data', partitions: 2, compacted: false },
      { name: 'table', partitions: 1, compacted: true },
    ]);
    expect(await readAll(second, 'data', 1)).toEqual([
      { topic: 'data', partition: 1, offset: 0, key: 'a', value: '1', headers: { h: 'x' }, timestamp: 7 },
    ]);
    expect(await second.offsets('table')).toEqual([{ partition: 0, low: 1, high: 2 }]);
    expect(await second.committedOffsets('g', 'data')).toEqual(new Map([[1, { offset: 1, metadata: 'm' }]]));
    const again = second.producer({ transactionalId: 'persisted' });
    const tx2 = await again.transaction();
    tx2.send([rec('data', 0, 'b', '2')]);
    expect((await tx2.commit()).offsets).toEqual(new Map([['data:0', [0]]]));
    await second.close();
  });

  it('closing the log stops its running consumers, which revoke and leave', async () => {
    const log = EmbeddedLog.open(join(tempDir(), 'log.db'));
    await log.createTopics([{ name: 't', partitions: 2 }]);
    const m = startMember(log, { groupId: 'g', topics: ['t'] });
    await waitFor(() => m.collector.assignment().length === 2, 'assignment');
    await log.close();
    await m.done;
    expect(m.collector.events.at(-1)).toBe('revoked 2');
    expect(m.collector.assignment()).toEqual([]);
  });

  it('runs a consumer once: a second run rejects, run after stop resolves at once', async () => {
    const log = EmbeddedLog.open(join(tempDir(), 'log.db'));
    await log.createTopics([{ name: 't', partitions: 1 }]);
    const c = log.consumer({ groupId: 'g', topics: ['t'] });
    const handlers = { eachBatch: async () => {} };
    const running = c.run(handlers);
    await expect(c.run(handlers)).rejects.toBeInstanceOf(InvalidStateError);
    await c.stop();
    await running;
    const unused = log.consumer({ groupId: 'g', topics: ['t'] });
    await unused.stop();
    await unused.run(handlers);
    const missing = log.consumer({ groupId: 'g2', topics: ['t', 'missing'] });
    await expect(missing.run(handlers)).rejects.toBeInstanceOf(UnknownTopicError);
    await log.close();
  });
});

describe('EmbeddedLog paused partitions', () => {
  it('keeps its partitions while they wait for resume longer than the session timeout (the loop heartbeats)', async () => {
    const log = EmbeddedLog.open(join(tempDir(), 'log.db'), { sessionTimeoutMs: 300, heartbeatIntervalMs: 50 });
    await log.createTopics([{ name: 't', partitions: 2 }]);
    await log.producer().send([rec('t', 0, 'a', '1'), rec('t', 1, 'b', '2')]);
    const events: string[] = [];
    const c = log.consumer({ groupId: 'g', topics: ['t'], startPaused: true });
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
    await waitFor(() => events.includes('assigned 2'), 'assigned');
    await new Promise((r) => setTimeout(r, 1_000)); // 3 session timeouts with both partitions paused
    c.resume([
      { topic: 't', partition: 0, offset: 0 },
      { topic: 't', partition: 1, offset: 0 },
    ]);
    await waitFor(() => events.includes('idle'), 'both batches, then idle');
    await c.stop();
    await done;
    await log.close();
    expect(events).toEqual(['assigned 2', 'batch 1', 'batch 2', 'idle', 'revoked 2']);
  });
});
