/**
 * Direct reads of a version thread's own repartition topics, on the embedded log. Only that version reads them, so
 * passing their records through the host (fetch, pack into shared memory, unpack: `wire.ts`) is pure overhead: on
 * a replay of 3,000,000 flights the repartition topic's 3,000,000 records cost ~9 s of host CPU and ~4 s in the
 * version's thread (BENCHMARKS.md). Instead the thread reads each assigned partition of them itself with `Log.read`,
 * as a version alone reads them through its consumer.
 *
 * Membership stays the host's: the host's consumer keeps these partitions in its assignment (so co-partitioned
 * slots still move together in a rebalance) and tells the thread `assigned` / `revoked`, but never resumes them;
 * the runner's `resume` and `pause` for them start and stop the loops here.
 *
 * On Kafka the host keeps fetching them: there a read is a network fetch outside any group, and the host's consumer
 * is the one that fetches ahead. Measured (2026-12-02, 300,000 flights, two rounds each, direct reads on Kafka with
 * one read kept open per partition and a 250 ms idle poll): a threaded replay beside v1 was unchanged (16,023 and
 * 16,661 records/s against 15,694 and 16,621 through the host), and v1 + v2 from the start lost ~15 % (9,547 and
 * 9,262 against 11,768 and 10,513): each wake-up after a commit costs list-offsets and fetch round trips that the
 * host's long-polling consumer does not pay.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { RecordsDeletedError } from '../../errors.js';
import type { ConsumerBatch, Log, TopicPartition } from '../../log/contract.js';
import { tpKey } from '../../log/contract.js';
import { DEFAULT_GROUP_TIMINGS } from '../../log/embedded/consumer.js';

/**
 * True when the partition has no record at or past `offset` (the high watermark alone can be past the last record
 * of a compacted topic).
 */
export async function atEnd(log: Log, tp: TopicPartition, offset: number): Promise<boolean> {
  const high = (await log.offsets(tp.topic)).find((o) => o.partition === tp.partition)?.high ?? 0;
  if (offset >= high) return true;
  const reads = log.read(tp, { fromOffset: offset, toOffset: high, maxBatchRecords: 1 })[Symbol.asyncIterator]();
  const first = await reads.next();
  await reads.return?.();
  return first.done === true || first.value.length === 0;
}

/** How often an idle loop looks for new records written by another process, ms: the embedded consumer's poll. */
export const DIRECT_READ_POLL_MS = DEFAULT_GROUP_TIMINGS.idlePollMs;

interface Loop {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to read. */
  next: number;
  /** Bumped by every seek, so a batch read before it is dropped. */
  seq: number;
  paused: boolean;
  stopped: boolean;
  /** The last look found nothing past `next` (cleared by `wake`). */
  atEnd: boolean;
  /** Set while the loop sleeps; wakes it. */
  wake?: () => void;
  /** Ends when the loop has ended (its batch in flight processed). */
  done: Promise<void>;
}

/**
 * The loops of one version thread, one per partition it reads directly. `deliver` processes a batch (the runner's
 * `eachBatch`, tracked by the thread's consumer); a failure of it or of a read goes to `onError` and ends the loop.
 */
export class DirectReads {
  /** Records read by the loops (the thread's part of the runner's fetched records). */
  records = 0;
  private readonly loops = new Map<string, Loop>();

  /**
   * @param log the thread's own log connection (embedded).
   * @param topics the version's internal topics it reads (its repartition topics).
   * @param maxBatchRecords records per read.
   */
  constructor(
    private readonly log: Log,
    private readonly topics: ReadonlySet<string>,
    private readonly maxBatchRecords: number,
    private readonly deliver: (batch: ConsumerBatch) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** True for a topic this thread reads itself. */
  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** True while some loop has records left to read or a batch in processing. */
  get busy(): boolean {
    for (const l of this.loops.values()) if (!l.stopped && !l.paused && !l.atEnd) return true;
    return false;
  }

  /** Reads a partition from `offset` (a seek when already reading it). */
  start(topic: string, partition: number, offset: number): void {
    const key = tpKey(topic, partition);
    const l = this.loops.get(key);
    if (l !== undefined && !l.stopped) {
      l.next = offset;
      l.seq++;
      l.paused = false;
      l.atEnd = false;
      l.wake?.();
      return;
    }
    const loop: Loop = {
      topic,
      partition,
      next: offset,
      seq: 0,
      paused: false,
      stopped: false,
      atEnd: false,
      done: Promise.resolve(),
    };
    loop.done = this.run(loop).catch((err: unknown) => {
      loop.stopped = true;
      this.onError(err);
    });
    this.loops.set(key, loop);
  }

  /** Stops delivering these partitions (after the batch in flight) until the next `start`. */
  pause(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const l = this.loops.get(tpKey(tp.topic, tp.partition));
      if (l !== undefined) l.paused = true;
    }
  }

  /** New records may be there (this thread committed): the idle loops look again now. */
  wake(): void {
    for (const l of this.loops.values()) {
      l.atEnd = false;
      l.wake?.();
    }
  }

  /** Ends the loops of these partitions (all when omitted); resolves once their batches in flight were processed. */
  async stop(tps?: readonly TopicPartition[]): Promise<void> {
    const keys = tps === undefined ? [...this.loops.keys()] : tps.map((tp) => tpKey(tp.topic, tp.partition));
    const ending: Promise<void>[] = [];
    for (const key of keys) {
      const l = this.loops.get(key);
      if (l === undefined) continue;
      this.loops.delete(key);
      l.stopped = true;
      l.wake?.();
      ending.push(l.done);
    }
    await Promise.all(ending);
  }

  private async run(l: Loop): Promise<void> {
    const tp = { topic: l.topic, partition: l.partition };
    let checkedSeq = -1;
    while (!l.stopped) {
      if (l.paused || l.atEnd) {
        // paused: until `start` or `stop`; at the end: until this thread commits, or a poll for other processes
        await this.sleep(l, l.paused ? undefined : DIRECT_READ_POLL_MS);
        continue;
      }
      const seq = l.seq;
      const offsets = (await this.log.offsets(l.topic)).find((o) => o.partition === l.partition);
      if (offsets === undefined) return;
      // as the consumer's resume: a position below the log start means records were deleted before they were read
      if (checkedSeq !== seq && l.next < offsets.low)
        throw new RecordsDeletedError(l.topic, l.partition, l.next, offsets.low);
      checkedSeq = seq;
      if (l.next >= offsets.high) {
        if (seq === l.seq) l.atEnd = true;
        continue;
      }
      const reads = this.log
        .read(tp, { fromOffset: l.next, toOffset: offsets.high, maxBatchRecords: this.maxBatchRecords })
        [Symbol.asyncIterator]();
      const got = await reads.next();
      await reads.return?.();
      if (l.stopped || l.paused || seq !== l.seq) continue;
      const records = got.done === true ? [] : got.value;
      const last = records[records.length - 1];
      if (last === undefined) {
        l.atEnd = true;
        continue;
      }
      this.records += records.length;
      await this.deliver({ topic: l.topic, partition: l.partition, records, highWatermark: offsets.high });
      if (seq === l.seq) l.next = last.offset + 1;
      // processing on the embedded log is mostly synchronous: let the host's messages and timers run
      await nextTurn();
    }
  }

  private sleep(l: Loop, ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        l.wake = undefined;
        l.atEnd = false;
        resolve();
      }
      l.wake = done;
    });
  }
}
