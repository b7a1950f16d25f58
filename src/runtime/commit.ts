/**
 * The commit protocol of a task, apart from the processing (Kafka Streams' `TaskExecutor`/`StreamsProducer` split):
 * what one batch writes, and how it becomes durable under each processing guarantee.
 */
import type { AppendResult, Log, Producer, ProducerRecord, TopicPartitionOffset } from '../log/contract.js';
import type { RunStats } from './stats.js';

/**
 * Kafka Streams' `processing.guarantee`: `exactly-once` commits each batch's outputs, changelog records and consumed
 * offsets in one transaction; `at-least-once` appends outputs and changelog records without a transaction, then
 * commits the consumed offsets (a crash in between reprocesses the batch: duplicates, no loss).
 */
export type ProcessingGuarantee = 'exactly-once' | 'at-least-once';

/** The processing guarantees, default first. */
export const PROCESSING_GUARANTEES: readonly ProcessingGuarantee[] = ['exactly-once', 'at-least-once'];

/** What one batch of one task writes: records (outputs, dead letters, changelog records) and consumed offsets. */
export interface BatchWrites {
  readonly records: readonly ProducerRecord[];
  /** Next offset to read per source partition, with stream times as metadata; committed to the version's group. */
  readonly offsets: readonly TopicPartitionOffset[];
}

/**
 * Makes a task's batches durable. States: created -> `init()` -> ready -> `close()`. `commit` rejects (and nothing of
 * the batch is visible under exactly-once) with `ProducerFencedError` when a newer owner of the task exists.
 */
export interface Committer {
  /** Fences the task's previous owner (exactly-once: InitProducerId) so its open transaction is decided. */
  init(): Promise<void>;
  /** Writes the batch; resolves with the offsets the records received. */
  commit(w: BatchWrites): Promise<AppendResult>;
  /** Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Exactly-once (KIP-98): one transaction per batch with a transactional id unique to the task, offsets committed to
 * the version's consumer group inside it (`sendOffsets`). The group need not have members: with shared read the
 * consumer belongs to the topology's reader group and each version keeps its positions in its own group.
 */
export class TransactionalCommitter implements Committer {
  private producer?: Producer;

  constructor(
    private readonly log: Log,
    readonly transactionalId: string,
    private readonly groupId: string,
    private readonly stats: RunStats,
  ) {}

  async init(): Promise<void> {
    this.producer ??= this.log.producer({ transactionalId: this.transactionalId });
    await this.producer.init?.();
  }

  async commit(w: BatchWrites): Promise<AppendResult> {
    if (this.producer === undefined) await this.init();
    const tx = await this.producer!.transaction();
    try {
      tx.send(w.records);
      tx.sendOffsets(this.groupId, w.offsets);
      const result = await tx.commit();
      this.stats.commits++;
      return result;
    } catch (err) {
      this.stats.aborts++;
      await tx.abort().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.close();
  }
}

/**
 * At-least-once: appends the batch's records without a transaction, then commits the offsets to the version's group
 * as a member-less commit (`Log.commitOffsets`). A crash between the two re-delivers the batch.
 */
export class AtLeastOnceCommitter implements Committer {
  private producer?: Producer;

  constructor(
    private readonly log: Log,
    private readonly groupId: string,
    private readonly stats: RunStats,
  ) {}

  async init(): Promise<void> {
    this.producer ??= this.log.producer();
  }

  async commit(w: BatchWrites): Promise<AppendResult> {
    if (this.producer === undefined) await this.init();
    const result = await this.producer!.send(w.records);
    await this.log.commitOffsets(this.groupId, w.offsets);
    this.stats.commits++;
    return result;
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.close();
  }
}
