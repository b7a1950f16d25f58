/**
 * The consumer of a version thread: a `Consumer` whose group membership, fetches and assignment belong to the host
 * thread (`host.ts`). The host calls `assigned`, `revoked` and `batch` (see `PortConsumer.handle`); `resume` and
 * `pause` are sent to the host, which resumes its shared consumer once every version reading a partition asked, at
 * the furthest of their positions, and says where (`started`): a version behind it catches up with its own reads
 * (`reader.ts`).
 */
import type {
  Consumer,
  ConsumerBatch,
  ConsumerHandlers,
  TopicPartition,
  TopicPartitionOffset,
} from '../../log/contract.js';
import { tpKey } from '../../log/contract.js';
import type { HostCall, ThreadMessage } from './protocol.js';
import { unpackBatch } from './wire.js';

export class PortConsumer implements Consumer {
  private handlers?: ConsumerHandlers;
  private readonly assignedNow = new Map<string, TopicPartition>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private finished?: { resolve: () => void; reject: (err: unknown) => void };
  private stopped = false;
  private failure?: { error: unknown };

  /**
   * @param send posts a message to the host.
   * @param onStarted the host resumed a shared input partition at `offset` (`TopologyRunner.sharedStartedAt`).
   */
  constructor(
    private readonly send: (m: ThreadMessage) => void,
    private readonly onStarted: (topic: string, partition: number, offset: number) => void,
  ) {}

  run(handlers: ConsumerHandlers): Promise<void> {
    this.handlers = handlers;
    return new Promise((resolve, reject) => {
      this.finished = { resolve, reject };
    });
  }

  /** True while a request of the host is being handled (a batch in flight). */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** A request of the host; resolves when the handler it calls resolved (a batch: processed and committed). */
  handle(call: Exclude<HostCall, { op: 'check' | 'create' | 'idle' }>): Promise<void> {
    const p = this.dispatch(call);
    this.inFlight.add(p);
    const forget = () => this.inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  private async dispatch(call: HostCall): Promise<void> {
    const h = this.handlers;
    if (h === undefined || this.stopped) return;
    if (call.op === 'assigned') {
      for (const tp of call.partitions) this.assignedNow.set(tpKey(tp.topic, tp.partition), tp);
      await h.onAssigned?.(call.partitions);
    } else if (call.op === 'revoked') {
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
    this.send({ t: 'pause', partitions: tps.map((tp) => ({ topic: tp.topic, partition: tp.partition })) });
  }

  resume(positions: readonly TopicPartitionOffset[]): void {
    this.send({
      t: 'resume',
      positions: positions.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset })),
    });
  }
}
