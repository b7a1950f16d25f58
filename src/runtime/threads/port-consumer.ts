/**
 * The consumer of a version thread: a `Consumer` whose group membership, fetches and assignment belong to the host
 * thread (`host.ts`). The host calls `assigned`, `revoked` and `batch` (see `PortConsumer.handle`); `resume` and
 * `pause` are sent to the host, which resumes its shared consumer once every version reading a partition asked, at
 * the furthest of their positions, and says where (`started`): a version behind it catches up with its own reads
 * (`reader.ts`).
 *
 * On the embedded log a thread reads its own repartition topics itself (`DirectReads`): the host keeps them in its
 * assignment but never fetches them.
 */
import type {
  Consumer,
  ConsumerBatch,
  ConsumerHandlers,
  Log,
  TopicPartition,
  TopicPartitionOffset,
} from '../../log/contract.js';
import { tpKey } from '../../log/contract.js';
import { DirectReads } from './direct-read.js';
import type { HostCall, ThreadMessage } from './protocol.js';
import { unpackBatch } from './wire.js';

export class PortConsumer implements Consumer {
  private handlers?: ConsumerHandlers;
  private readonly assignedNow = new Map<string, TopicPartition>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private finished?: { resolve: () => void; reject: (err: unknown) => void };
  private stopped = false;
  private failure?: { error: unknown };
  /** The thread's direct reads of its repartition topics (embedded log), if any. */
  readonly direct?: DirectReads;

  /**
   * @param send posts a message to the host.
   * @param onStarted the host resumed a shared input partition at `offset` (`TopologyRunner.sharedStartedAt`).
   * @param direct read these topics (the version's repartition topics) directly from `log`, not through the host.
   */
  constructor(
    private readonly send: (m: ThreadMessage) => void,
    private readonly onStarted: (topic: string, partition: number, offset: number) => void,
    direct?: { readonly log: Log; readonly topics: ReadonlySet<string>; readonly maxBatchRecords: number },
  ) {
    if (direct !== undefined && direct.topics.size > 0)
      this.direct = new DirectReads(
        direct.log,
        direct.topics,
        direct.maxBatchRecords,
        (batch) => this.track(this.deliverDirect(batch)),
        (err) => this.fail(err),
      );
  }

  run(handlers: ConsumerHandlers): Promise<void> {
    this.handlers = handlers;
    return new Promise((resolve, reject) => {
      this.finished = { resolve, reject };
    });
  }

  /** True while a request of the host is being handled (a batch in flight) or a direct read has records left. */
  get busy(): boolean {
    return this.inFlight.size > 0 || this.direct?.busy === true;
  }

  /** A request of the host; resolves when the handler it calls resolved (a batch: processed and committed). */
  handle(call: Exclude<HostCall, { op: 'check' | 'create' | 'idle' }>): Promise<void> {
    return this.track(this.dispatch(call));
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    const forget = () => this.inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** A batch of a direct read: processed as the host's batches are, while its partition is assigned. */
  private async deliverDirect(batch: ConsumerBatch): Promise<void> {
    const h = this.handlers;
    if (h === undefined || this.stopped || !this.assignedNow.has(tpKey(batch.topic, batch.partition))) return;
    try {
      await h.eachBatch(batch);
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  private async dispatch(call: HostCall): Promise<void> {
    const h = this.handlers;
    if (h === undefined || this.stopped) return;
    if (call.op === 'assigned') {
      for (const tp of call.partitions) this.assignedNow.set(tpKey(tp.topic, tp.partition), tp);
      await h.onAssigned?.(call.partitions);
    } else if (call.op === 'revoked') {
      await this.direct?.stop(call.partitions);
      const mine = call.partitions.filter((tp) => this.assignedNow.delete(tpKey(tp.topic, tp.partition)));
      if (mine.length > 0) await h.onRevoked?.(mine);
    } else if (call.op === 'started') {
      if (this.assignedNow.has(tpKey(call.topic, call.partition)))
        this.onStarted(call.topic, call.partition, call.offset);
    } else if (call.op === 'batch') {
      const { packed, highWatermark } = call.batch;
      if (!this.assignedNow.has(tpKey(packed.topic, packed.partition))) return;
      const batch: ConsumerBatch = {
        topic: packed.topic,
        partition: packed.partition,
        records: unpackBatch(packed),
        highWatermark,
      };
      try {
        await h.eachBatch(batch);
      } catch (err) {
        this.fail(err);
        throw err;
      }
    }
  }

  private fail(err: unknown): void {
    this.failure ??= { error: err };
    void this.stop();
  }

  /** Lets the calls in flight finish, revokes every partition, and ends `run` (rejecting it after a handler failed). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.direct?.stop();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    const all = [...this.assignedNow.values()];
    this.assignedNow.clear();
    try {
      if (all.length > 0) await this.handlers?.onRevoked?.(all);
    } catch (err) {
      this.failure ??= { error: err };
    }
    if (this.failure !== undefined) this.finished?.reject(this.failure.error);
    else this.finished?.resolve();
  }

  pause(tps: readonly TopicPartition[]): void {
    const direct = this.direct;
    if (direct !== undefined) direct.pause(tps.filter((tp) => direct.has(tp.topic)));
    const viaHost = direct === undefined ? tps : tps.filter((tp) => !direct.has(tp.topic));
    if (viaHost.length > 0)
      this.send({ t: 'pause', partitions: viaHost.map((tp) => ({ topic: tp.topic, partition: tp.partition })) });
  }

  resume(positions: readonly TopicPartitionOffset[]): void {
    const viaHost: TopicPartitionOffset[] = [];
    for (const p of positions) {
      if (this.direct?.has(p.topic) !== true) viaHost.push(p);
      else if (this.assignedNow.has(tpKey(p.topic, p.partition))) this.direct.start(p.topic, p.partition, p.offset);
    }
    if (viaHost.length > 0)
      this.send({
        t: 'resume',
        positions: viaHost.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset })),
      });
  }
}
