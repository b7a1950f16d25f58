/**
 * Positions of a group member on Kafka: where a newly assigned partition starts, whether every partition
 * is at its end (for `onIdle`), and the mutex that keeps a member's handler calls one at a time.
 */
import { RecordsDeletedError } from '../../errors.js';
import type { TopicPartition } from '../contract.js';
import { tpKey } from '../contract.js';
import { entry } from './client.js';
import { READ_COMMITTED, READ_UNCOMMITTED } from './internals.js';
import { EARLIEST, LATEST, type RawClient } from './raw.js';

/** A promise-chain mutex; `busy` while a holder runs or waits. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  get busy(): boolean {
    return this.held > 0;
  }

  /** Runs `fn` after all earlier holders; resolves or rejects with `fn`'s result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.held++;
    const result = this.tail.then(fn);
    const release = () => {
      this.held--;
    };
    this.tail = result.then(release, release);
    return result;
  }
}

/** A failed end-offset query of the idle check (tried again on the next tick, not fatal). */
export class IdleQueryError extends Error {
  constructor(cause: unknown) {
    super('idle check failed', { cause });
  }
}

/**
 * Where each partition starts for a group: its committed offset, or the log start offset when none is
 * committed (`auto.offset.reset=earliest`) or the committed one is above the high watermark (a recreated topic).
 * Staying inside [log start, high watermark] keeps kafkajs away from its offset-out-of-range recovery, which
 * commits an offset by itself. Throws `RecordsDeletedError` when the committed offset is below the log start
 * (records deleted before the group read them). Returns tpKey -> offset.
 */
export async function startOffsets(
  raw: RawClient,
  groupId: string,
  tps: readonly TopicPartition[],
): Promise<Map<string, number>> {
  const byTopic = new Map<string, number[]>();
  for (const tp of tps) entry(byTopic, tp.topic, () => []).push(tp.partition);
  const out = new Map<string, number>();
  await Promise.all(
    [...byTopic].map(async ([topic, partitions]) => {
      const [committed, low, high] = await Promise.all([
        raw.committed(groupId, topic, partitions),
        raw.listOffsets(topic, partitions, EARLIEST, READ_COMMITTED),
        raw.listOffsets(topic, partitions, LATEST, READ_UNCOMMITTED),
      ]);
      for (const p of partitions) {
        const c = committed.get(p)?.offset ?? -1;
        const lo = low.get(p)!;
        // records deleted before this group read them (retention, DeleteRecords): fail, never skip ahead
        if (c >= 0 && c < lo) throw new RecordsDeletedError(topic, p, c, lo);
        out.set(tpKey(topic, p), c >= 0 && c <= high.get(p)! ? c : lo);
      }
    }),
  );
  return out;
}

/**
 * True if every partition's position (`next`) is at its last stable offset: nothing committed is left to
 * read (records of open transactions cannot be read yet). Throws `IdleQueryError` if the query fails.
 */
export async function atEnd(
  raw: RawClient,
  parts: readonly { topic: string; partition: number; next: number }[],
): Promise<boolean> {
  const byTopic = new Map<string, { partition: number; next: number }[]>();
  for (const st of parts) entry(byTopic, st.topic, () => []).push(st);
  try {
    for (const [topic, sts] of byTopic) {
      const ends = await raw.listOffsets(
        topic,
        sts.map((st) => st.partition),
        LATEST,
        READ_COMMITTED,
      );
      if (sts.some((st) => st.next < ends.get(st.partition)!)) return false;
    }
    return true;
  } catch (err) {
    throw new IdleQueryError(err);
  }
}

/** The log start offset of one partition (ListOffsets EARLIEST). */
export async function logStart(raw: RawClient, topic: string, partition: number): Promise<number> {
  return (await raw.listOffsets(topic, [partition], EARLIEST, READ_COMMITTED)).get(partition)!;
}

/** Log start (`low`) and high watermark (`high`) of partitions, by tpKey. */
export async function positionBounds(
  raw: RawClient,
  tps: readonly TopicPartition[],
): Promise<Map<string, { low: number; high: number }>> {
  const byTopic = new Map<string, number[]>();
  for (const tp of tps) entry(byTopic, tp.topic, () => []).push(tp.partition);
  const out = new Map<string, { low: number; high: number }>();
  await Promise.all(
    [...byTopic].map(async ([topic, partitions]) => {
      const [low, high] = await Promise.all([
        raw.listOffsets(topic, partitions, EARLIEST, READ_COMMITTED),
        raw.listOffsets(topic, partitions, LATEST, READ_UNCOMMITTED),
      ]);
      for (const p of partitions) out.set(tpKey(topic, p), { low: low.get(p)!, high: high.get(p)! });
    }),
  );
  return out;
}
