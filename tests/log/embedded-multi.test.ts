/**
 * Two `EmbeddedLog` instances on one file behave like two processes: separate SQLite connections that
 * share data, producer epochs and consumer-group membership only through the file.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { LogBusyError, ProducerFencedError } from '../../src/errors.js';
import { localHostId } from '../../src/log/embedded/group.js';
import { EmbeddedLog, type EmbeddedLogOptions } from '../../src/log/embedded/index.js';
import { startMember } from './conformance-groups.js';
import { deferred, readAll, rec, waitFor } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Two logs ("processes") on one new file. */
function twoProcesses(opts: EmbeddedLogOptions = {}): { path: string; a: EmbeddedLog; b: EmbeddedLog } {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-multi-'));
  dirs.push(dir);
  const path = join(dir, 'log.db');
  return { path, a: EmbeddedLog.open(path, opts), b: EmbeddedLog.open(path, opts) };
}

const fast: EmbeddedLogOptions = { sessionTimeoutMs: 400, heartbeatIntervalMs: 50, maxPollIntervalMs: 200 };

describe('EmbeddedLog shared by two connections', () => {
  it('shares topics, records, committed offsets and producer epochs', async () => {
    const { a, b } = twoProcesses();
    await a.createTopics([{ name: 't', partitions: 2 }]);
    expect(await b.describeTopic('t')).toEqual({ name: 't', partitions: 2, compacted: false });
    await b.createTopics([{ name: 't', partitions: 2 }]);
    await a.producer().send([rec('t', 0, 'a', '1')]);
    const r = await b.producer().send([rec('t', 0, 'b', '2'), rec('t', 1, 'c', '3')]);
    expect(r.offsets).toEqual(
      new Map([
        ['t:0', [1]],
        ['t:1', [0]],
      ]),
    );
    expect((await readAll(a, 't', 0)).map((x) => `${x.offset}=${x.value}`)).toEqual(['0=1', '1=2']);

    const zombie = a.producer({ transactionalId: 'task-0' });
    const zombieTx = await zombie.transaction();
    zombieTx.send([rec('t', 1, 'z', 'zombie')]);
    zombieTx.sendOffsets('g', [{ topic: 't', partition: 0, offset: 2 }]);
    const fresh = b.producer({ transactionalId: 'task-0' });
    await expect(zombieTx.commit()).rejects.toBeInstanceOf(ProducerFencedError);
    const tx = await fresh.transaction();
    tx.send([rec('t', 1, 'f', 'fresh')]);
    tx.sendOffsets('g', [{ topic: 't', partition: 0, offset: 1, metadata: 'from b' }]);
    await tx.commit();
    expect((await readAll(a, 't', 1)).map((x) => x.value)).toEqual(['3', 'fresh']);
    expect(await a.committedOffsets('g', 't')).toEqual(new Map([[0, { offset: 1, metadata: 'from b' }]]));
    await a.close();
    await b.close();
  });

  it('splits a group across connections and hands partitions over when one closes', async () => {
    const { a, b } = twoProcesses(fast);
    await a.createTopics([
      { name: 'x', partitions: 2 },
      { name: 'y', partitions: 2 },
    ]);
    const opts = { groupId: 'g', topics: ['x', 'y'], coPartitioned: false };
    const m1 = startMember(a, opts, { commit: true });
    await waitFor(() => m1.collector.assignment().length === 4, 'm1 owns 4');
    const m2 = startMember(b, opts, { commit: true });
    await waitFor(() => m1.collector.assignment().length === 2 && m2.collector.assignment().length === 2, '2/2');
    expect([...m1.collector.assignment(), ...m2.collector.assignment()].sort()).toEqual(['x:0', 'x:1', 'y:0', 'y:1']);
    const send = async (round: number): Promise<void> => {
      await a.producer().send(['x', 'y'].flatMap((t) => [0, 1].map((p) => rec(t, p, 'k', `${t}${p}-${round}`))));
    };
    await send(1);
    await waitFor(() => m1.collector.count() + m2.collector.count() === 4, 'round 1');
    await b.close();
    await m2.done;
    await waitFor(() => m1.collector.assignment().length === 4, 'm1 owns 4 again');
    await send(2);
    await waitFor(() => m1.collector.count() + m2.collector.count() === 8, 'round 2');
    await m1.stop();
    const values = [...m1.collector.records(), ...m2.collector.records()].map((r) => r.value).sort();
    expect(values).toEqual(['x0-1', 'x0-2', 'x1-1', 'x1-2', 'y0-1', 'y0-2', 'y1-1', 'y1-2']);
    await a.close();
  });

  it('expires a member that stops heartbeating and gives its partitions to the others', async () => {
    const { a, b } = twoProcesses(fast);
    await a.createTopics([{ name: 't', partitions: 2 }]);
    await a.producer().send([0, 1].flatMap((p) => [0, 1, 2].map((i) => rec('t', p, 'k', `${p}:${i}`))));
    const gate = deferred();
    const hung = deferred();
    let calls = 0;
    const stuckConsumer = a.consumer({ groupId: 'g', topics: ['t'] });
    const stuckBatches: string[] = [];
    const revoked: string[] = [];
    const stuckDone = stuckConsumer.run({
      async eachBatch(batch) {
        stuckBatches.push(`${batch.partition}@${batch.records[0].offset}`);
        calls += 1;
        if (calls === 1) {
          hung.resolve();
          await gate.promise;
        }
      },
      async onRevoked(tps) {
        revoked.push(tps.map((tp) => tp.partition).join(','));
      },
    });
    await hung.promise;
    const m2 = startMember(b, { groupId: 'g', topics: ['t'] });
    await waitFor(() => m2.collector.count() === 6, 'all records delivered to the live member');
    expect(m2.collector.recordsOf('t', 0).map((r) => r.value)).toEqual(['0:0', '0:1', '0:2']);
    expect(m2.collector.recordsOf('t', 1).map((r) => r.value)).toEqual(['1:0', '1:1', '1:2']);
    expect(stuckBatches).toEqual(['0@0']);

    gate.resolve();
    await waitFor(() => revoked.length >= 1, 'the expired member revokes what it lost');
    expect(revoked[0]).toBe('0,1');
    await waitFor(() => m2.collector.assignment().length === 1, 'rebalanced to 1/1 after the member rejoined');
    await stuckConsumer.stop();
    await stuckDone;
    await m2.stop();
    await a.close();
    await b.close();
  });

  it('waits for a crashed member (stale row and claims) to expire, then takes everything', async () => {
    const { path, a, b } = twoProcesses(fast);
    await a.createTopics([{ name: 't', partitions: 2 }]);
    await a.producer().send([rec('t', 0, 'k', 'p0'), rec('t', 1, 'k', 'p1')]);
    const raw = new Database(path);
    raw
      .prepare('INSERT INTO log_group_members (group_id, member_id, heartbeat_at, joined_at) VALUES (?, ?, ?, ?)')
      .run('g', 'crashed', Date.now(), Date.now());
    raw
      .prepare(`INSERT INTO log_group_claims (group_id, topic, partition, member_id) VALUES ('g', 't', 0, 'crashed')`)
      .run();
    raw
      .prepare(`INSERT INTO log_group_claims (group_id, topic, partition, member_id) VALUES ('g', 't', 1, 'crashed')`)
      .run();
    raw.close();
    const m = startMember(b, { groupId: 'g', topics: ['t'] });
    await waitFor(() => m.collector.count() === 2, 'both partitions after the crashed member expired');
    expect(m.collector.assignment()).toEqual(['t:0', 't:1']);
    expect(
      m.collector
        .records()
        .map((r) => r.value)
        .sort(),
    ).toEqual(['p0', 'p1']);
    await m.stop();
    const check = new Database(path, { readonly: true });
    const rows = check.prepare(`SELECT COUNT(*) FROM log_group_members WHERE group_id = 'g'`).pluck().get();
    const claims = check.prepare(`SELECT COUNT(*) FROM log_group_claims WHERE group_id = 'g'`).pluck().get();
    check.close();
    expect([rows, claims]).toEqual([0, 0]);
    await a.close();
    await b.close();
  });
});

describe('crashed local processes', () => {
  /** Inserts a member row (and claims on every partition of `t`) as if left behind by process `pid`. */
  function leaveMember(path: string, pid: number): void {
    const raw = new Database(path);
    raw
      .prepare(
        'INSERT INTO log_group_members (group_id, member_id, heartbeat_at, joined_at, host, pid) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run('g', 'left-behind', Date.now(), Date.now(), localHostId(), pid);
    for (const p of [0, 1]) {
      raw
        .prepare(
          `INSERT INTO log_group_claims (group_id, topic, partition, member_id) VALUES ('g', 't', ?, 'left-behind')`,
        )
        .run(p);
    }
    raw.close();
  }

  it('expires a member of this host whose process is gone at once, without waiting for its lease', async () => {
    const child = spawnSync(process.execPath, ['-e', '0']);
    expect(child.status).toBe(0);
    const { path, a, b } = twoProcesses({ sessionTimeoutMs: 120_000 });
    await a.createTopics([{ name: 't', partitions: 2 }]);
    await a.producer().send([rec('t', 0, 'k', 'p0'), rec('t', 1, 'k', 'p1')]);
    leaveMember(path, child.pid);
    const m = startMember(b, { groupId: 'g', topics: ['t'] });
    await waitFor(() => m.collector.count() === 2, 'both partitions', 20_000);
    expect(m.collector.assignment()).toEqual(['t:0', 't:1']);
    await m.stop();
    await a.close();
    await b.close();
  });

  it('keeps a member of this host whose process is alive until its lease runs out', async () => {
    const { path, a, b } = twoProcesses({ sessionTimeoutMs: 120_000 });
    await a.createTopics([{ name: 't', partitions: 2 }]);
    leaveMember(path, process.ppid);
    const m = startMember(b, { groupId: 'g', topics: ['t'] });
    await new Promise((r) => setTimeout(r, 500));
    expect(m.collector.assignment()).toEqual([]);
    await m.stop();
    await a.close();
    await b.close();
  });
});

describe('partition handover', () => {
  it('never gives a partition to a new member before the old one finished its batch and revoked', async () => {
    // Short leases: the old member stays alive only through its background heartbeats while its batch hangs.
    const { a, b } = twoProcesses({ sessionTimeoutMs: 300, heartbeatIntervalMs: 50 });
    await a.createTopics([{ name: 't', partitions: 2 }]);
    await a.producer().send([0, 1].flatMap((p) => [0, 1, 2].map((i) => rec('t', p, 'k', `${p}:${i}`))));
    const gate = deferred();
    const hung = deferred();
    const producer = a.producer({ transactionalId: 'old-member' });
    const oldBatches: string[] = [];
    const oldConsumer = a.consumer({ groupId: 'g', topics: ['t'] });
    const oldDone = oldConsumer.run({
      async eachBatch(batch) {
        const last = batch.records[batch.records.length - 1].offset;
        oldBatches.push(`${batch.partition}:${batch.records[0].offset}-${last}`);
        if (oldBatches.length === 1) {
          hung.resolve();
          await gate.promise;
        }
        const tx = await producer.transaction();
        tx.sendOffsets('g', [{ topic: 't', partition: batch.partition, offset: last + 1 }]);
        await tx.commit();
      },
    });
    await hung.promise;
    const m2 = startMember(b, { groupId: 'g', topics: ['t'] });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(m2.collector.assignment()).toEqual([]);
    expect(m2.collector.count()).toBe(0);
    gate.resolve();
    await waitFor(() => m2.collector.assignment().length === 1, 'the new member got one partition');
    const p = Number(m2.collector.assignment()[0].split(':')[1]);
    await waitFor(() => oldBatches.length === 2 || m2.collector.count() === 3, 'the rest delivered');
    await oldConsumer.stop();
    await oldDone;
    await m2.stop();
    // Each partition was read exactly once: the old member's batches plus the new member's records.
    const fromNew = m2.collector.records().map((r) => `${r.partition}:${r.offset}`);
    const fromOld = oldBatches.flatMap((s) => {
      const [part, span] = s.split(':');
      const [from, to] = span.split('-').map(Number);
      return [from, to].length === 2 ? Array.from({ length: to - from + 1 }, (_, i) => `${part}:${from + i}`) : [];
    });
    expect([...fromOld, ...fromNew].sort()).toEqual(['0:0', '0:1', '0:2', '1:0', '1:1', '1:2']);
    expect(fromNew).toEqual([0, 1, 2].map((i) => `${p}:${i}`).filter((x) => !fromOld.includes(x)));
    await producer.close();
    await a.close();
    await b.close();
  });
});

describe('locking', () => {
  it('maps a lock held longer than the busy timeout to a retriable LogBusyError', async () => {
    const { path, a, b } = twoProcesses({ busyTimeoutMs: 100 });
    await b.close();
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    const err = await a.createTopics([{ name: 't', partitions: 1 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogBusyError);
    expect((err as LogBusyError).retriable).toBe(true);
    expect(() => EmbeddedLog.open(path, { busyTimeoutMs: 100 })).toThrow(LogBusyError);
    holder.exec('ROLLBACK');
    await a.createTopics([{ name: 't', partitions: 1 }]);
    expect(await a.describeTopic('t')).toEqual({ name: 't', partitions: 1, compacted: false });
    holder.close();
    await a.close();
  });
});
