/**
 * At-least-once (`processingGuarantee: 'at-least-once'`) on the embedded log: outputs and changelog records are
 * appended without a transaction, then the consumed offsets are committed as the group member
 * (`Consumer.commitOffsets`). Without a crash nothing is reprocessed, so a run ends identical to an exactly-once run.
 * A crash between the append and the offset commit reprocesses the batch: duplicates, no loss.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { RebalanceInProgressError } from '../../src/errors.js';
import type { Consumer, Log, TopicPartition, TopicPartitionOffset } from '../../src/log/contract.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { tempBackend } from '../helpers/backend.js';
import { type RunSnapshot, snapshot } from '../helpers/snapshot.js';

const LIMIT = 20_000;
const BATCH = 500;

describe('at-least-once on the embedded log', () => {
  const topology = buildFlightDelays();
  const exactly = tempBackend('eddy-eos-');
  const atLeast = tempBackend('eddy-alos-');
  let expected: RunSnapshot;

  beforeAll(async () => {
    for (const env of [exactly, atLeast]) await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
    await new TopologyRunner(topology, {
      log: exactly.log,
      registry: exactly.registry,
      stateDir: exactly.stateDir,
      untilIdle: true,
      maxBatchRecords: BATCH,
    }).run();
    expected = await snapshot(exactly.log, exactly.registry, exactly.stateDir, topology);
  }, 300_000);
  afterAll(async () => {
    await exactly.destroy();
    await atLeast.destroy();
  });

  it('runs to idle with the same stores and output topics as exactly-once (no crash, no duplicates)', async () => {
    const runner = new TopologyRunner(topology, {
      log: atLeast.log,
      registry: atLeast.registry,
      stateDir: atLeast.stateDir,
      untilIdle: true,
      maxBatchRecords: BATCH,
      processingGuarantee: 'at-least-once',
    });
    const stats = await runner.run();
    expect(stats.commits).toBeGreaterThan(LIMIT / BATCH);
    expect(stats.aborts).toBe(0);
    const got = await snapshot(atLeast.log, atLeast.registry, atLeast.stateDir, topology);
    expect(Object.values(expected.stores).every((rows) => rows.length > 0)).toBe(true);
    expect(Object.values(expected.topics).flat(2).length).toBeGreaterThan(1000);
    expect(got).toEqual(expected);

    // every input consumed, committed outside transactions with the stream times as metadata
    let committed = 0;
    const offsets = await atLeast.log.committedOffsets(topology.groupId, 'flights');
    for (const o of await atLeast.log.offsets('flights')) {
      expect(offsets.get(o.partition)?.offset).toBe(o.high);
      expect(offsets.get(o.partition)?.metadata).toMatch(/^\{.+\}$/);
      committed += offsets.get(o.partition)!.offset;
    }
    expect(committed).toBe(LIMIT);
    // the task's producer was not transactional: no producer epoch was registered for this topology's tasks
    expect(producerIds(exactly.logPath)).toBeGreaterThan(0);
    expect(producerIds(atLeast.logPath)).toBe(0);
  }, 300_000);

  it('a crash between the append and the offset commit reprocesses the batch: duplicates, no loss', async () => {
    const env = tempBackend('eddy-alos-crash-');
    try {
      await loadFlightData({ log: env.log, registry: env.registry, limit: 2_000 });
      const failing = withFailingCommit(env.log, 3);
      const opts = { registry: env.registry, stateDir: env.stateDir, untilIdle: true, maxBatchRecords: 200 } as const;
      await expect(
        new TopologyRunner(topology, { ...opts, log: failing, processingGuarantee: 'at-least-once' }).run(),
      ).rejects.toThrow(/injected commit failure/);
      const appendedBefore = await outputCount(env.log);
      expect(appendedBefore).toBeGreaterThan(0);
      await new TopologyRunner(topology, { ...opts, log: env.log, processingGuarantee: 'at-least-once' }).run();
      // all of the input was consumed in the end
      const offsets = await env.log.committedOffsets(topology.groupId, 'flights');
      let committed = 0;
      for (const o of await env.log.offsets('flights')) committed += offsets.get(o.partition)?.offset ?? 0;
      expect(committed).toBe(2_000);
      // a reference run of the same input, exactly once, has fewer output records: the failed batch was redone
      const ref = tempBackend('eddy-alos-crash-ref-');
      try {
        await loadFlightData({ log: ref.log, registry: ref.registry, limit: 2_000 });
        await new TopologyRunner(topology, {
          ...opts,
          log: ref.log,
          registry: ref.registry,
          stateDir: ref.stateDir,
        }).run();
        expect(await outputCount(env.log)).toBeGreaterThan(await outputCount(ref.log));
      } finally {
        await ref.destroy();
      }
    } finally {
      await env.destroy();
    }
  }, 300_000);
});

/** Transactional ids ever registered in an embedded log file. */
function producerIds(logPath: string): number {
  const db = new Database(logPath, { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM log_producers').pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Output + dead-letter records of the flight-delays topology on a log. */
async function outputCount(log: Log): Promise<number> {
  const t = buildFlightDelays();
  let n = 0;
  for (const info of t.topics.values()) {
    if (info.role !== 'output' && info.role !== 'dlq') continue;
    for (const o of await log.offsets(info.name)) n += o.high - o.low;
  }
  return n;
}

/** A log whose consumers' `commitOffsets` fails on the `nth` call (after the batch's records were appended). */
function withFailingCommit(log: Log, nth: number): Log {
  let calls = 0;
  return new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'commitOffsets')
        return async (groupId: string, offsets: readonly TopicPartitionOffset[]) => {
          if (++calls === nth) throw new Error('injected commit failure');
          await target.commitOffsets(groupId, offsets);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Log;
}

describe('EmbeddedConsumer.commitOffsets', () => {
  const env = tempBackend('eddy-commit-');
  afterAll(() => env.destroy());

  it('rejects partitions not assigned to this member and commits nothing; commits its own', async () => {
    await env.log.createTopics([
      { name: 't', partitions: 2 },
      { name: 'other', partitions: 1 },
    ]);
    const group = 'g';
    const a = env.log.consumer({ groupId: group, topics: ['t'] });
    const b = env.log.consumer({ groupId: group, topics: ['t'] });
    const owned = new Map<Consumer, TopicPartition[]>([
      [a, []],
      [b, []],
    ]);
    const handlers = (c: Consumer) => ({
      onAssigned: async (tps: readonly TopicPartition[]) => {
        owned.get(c)!.push(...tps);
      },
      onRevoked: async (tps: readonly TopicPartition[]) => {
        owned.set(
          c,
          owned.get(c)!.filter((x) => !tps.some((y) => y.topic === x.topic && y.partition === x.partition)),
        );
      },
      eachBatch: async () => {},
    });
    // not running yet: nothing is assigned
    await expect(a.commitOffsets!([{ topic: 't', partition: 0, offset: 1 }])).rejects.toThrow(/not running/);
    const runs = [a.run(handlers(a)), b.run(handlers(b))];
    try {
      const deadline = Date.now() + 20_000;
      while (owned.get(a)!.length !== 1 || owned.get(b)!.length !== 1) {
        if (Date.now() > deadline) throw new Error(`no split assignment: ${JSON.stringify([...owned.values()])}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const [ofA] = owned.get(a)!;
      const [ofB] = owned.get(b)!;
      expect(ofA.partition).not.toBe(ofB.partition);

      const err = await b.commitOffsets!([{ ...ofA, offset: 5, metadata: 'm' }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RebalanceInProgressError);
      expect((err as Error).message).toContain(`t:${ofA.partition}`);
      // all or nothing: one owned and one foreign partition commit nothing
      await expect(
        b.commitOffsets!([
          { ...ofB, offset: 3 },
          { ...ofA, offset: 5 },
        ]),
      ).rejects.toBeInstanceOf(RebalanceInProgressError);
      // a topic this member does not read at all
      await expect(b.commitOffsets!([{ topic: 'other', partition: 0, offset: 1 }])).rejects.toBeInstanceOf(
        RebalanceInProgressError,
      );
      expect((await env.log.committedOffsets(group, 't')).size).toBe(0);

      await b.commitOffsets!([{ ...ofB, offset: 7, metadata: 'meta' }]);
      await a.commitOffsets!([{ ...ofA, offset: 2 }]);
      const committed = await env.log.committedOffsets(group, 't');
      expect(committed.get(ofB.partition)).toEqual({ offset: 7, metadata: 'meta' });
      expect(committed.get(ofA.partition)).toEqual({ offset: 2 });
    } finally {
      await a.stop();
      await b.stop();
      await Promise.all(runs);
    }
    await expect(a.commitOffsets!([{ topic: 't', partition: 0, offset: 9 }])).rejects.toThrow(/not running/);
  }, 60_000);
});
