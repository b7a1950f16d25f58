/**
 * Producers and transactions of the embedded log. A transaction buffers records and offset commits in
 * memory and writes them in ONE SQLite `BEGIN IMMEDIATE` transaction at `commit`, after checking the
 * producer's epoch, so nothing is visible before commit and nothing after abort or a crash.
 */

import { InvalidStateError, ProducerFencedError } from '../../errors.js';
import type { AppendResult, Producer, ProducerRecord, TopicPartitionOffset, Transaction } from '../contract.js';
import { checkCommitOffsets } from '../validate.js';
import type { LogStore } from './store.js';

/**
 * A producer on the embedded log. With a `transactionalId`, constructing it bumps that id's epoch in
 * `log_producers`, which fences every older instance with the same id (their `commit`/`send` then throw
 * `ProducerFencedError` and write nothing).
 */
export class EmbeddedProducer implements Producer {
  readonly transactionalId?: string;
  private readonly epoch: number | undefined;
  private current: EmbeddedTransaction | undefined;
  private closed = false;
  private fencedBy: number | undefined;

  /**
   * @param store the log's store.
   * @param transactionalId optional; registers (or bumps) the id's epoch synchronously. Throws `LogBusyError`
   *   if the file stays locked longer than the busy timeout.
   * @param onClose called once when the producer closes (the log forgets it).
   */
  constructor(
    private readonly store: LogStore,
    transactionalId: string | undefined,
    private readonly onClose: (p: EmbeddedProducer) => void = () => {},
  ) {
    if (transactionalId !== undefined) {
      this.transactionalId = transactionalId;
      this.epoch = store.bumpEpoch(transactionalId);
    }
  }

  /**
   * Begins a transaction. Throws `InvalidStateError` if the producer is closed or a transaction is already
   * open, `ProducerFencedError` if this producer was already found fenced.
   */
  async transaction(): Promise<Transaction> {
    this.assertUsable();
    if (this.current !== undefined) {
      throw new InvalidStateError('A transaction is already open on this producer; commit or abort it first.', {
        transactionalId: this.transactionalId,
      });
    }
    this.current = new EmbeddedTransaction(this.store, this);
    return this.current;
  }

  /**
   * Appends records in one SQLite transaction (all or nothing) and resolves with the assigned offsets.
   * Throws `UnknownTopicError`, `UnknownPartitionError`, `ProducerFencedError` (transactional producers are
   * fenced here too), `InvalidStateError` when closed, `LogBusyError` on lock timeout.
   */
  async send(records: readonly ProducerRecord[]): Promise<AppendResult> {
    this.assertUsable();
    const offsets = this.store.writeTx(() => {
      this.checkEpochInTx();
      return this.store.appendInTx(records);
    });
    return { offsets };
  }

  /** Aborts the open transaction, if any, and marks the producer closed. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.current !== undefined) await this.current.abort();
    this.onClose(this);
  }

  /** Throws `ProducerFencedError` if a newer producer took this transactional id; call inside `writeTx`. */
  checkEpochInTx(): void {
    if (this.transactionalId === undefined || this.epoch === undefined) return;
    const current = this.store.epoch(this.transactionalId) ?? -1;
    if (current !== this.epoch) {
      this.fencedBy = current;
      throw new ProducerFencedError(this.transactionalId, this.epoch, current);
    }
  }

  /** Called by a transaction when it ends (committed, aborted or failed). */
  transactionEnded(tx: EmbeddedTransaction): void {
    if (this.current === tx) this.current = undefined;
  }

  private assertUsable(): void {
    this.store.assertOpen();
    if (this.closed) {
      throw new InvalidStateError('This producer is closed.', { transactionalId: this.transactionalId });
    }
    if (this.fencedBy !== undefined && this.transactionalId !== undefined && this.epoch !== undefined) {
      throw new ProducerFencedError(this.transactionalId, this.epoch, this.fencedBy);
    }
  }
}

interface PendingOffsets {
  readonly groupId: string;
  readonly offsets: readonly TopicPartitionOffset[];
}

/**
 * An open transaction: `send` and `sendOffsets` buffer in memory; `commit` writes everything in one
 * SQLite transaction; `abort` drops the buffers. States: open -> committed | aborted (a failed commit
 * leaves it aborted, so a following `abort()` is a harmless no-op).
 */
export class EmbeddedTransaction implements Transaction {
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private records: ProducerRecord[] = [];
  private pendingOffsets: PendingOffsets[] = [];

  /** Created by `EmbeddedProducer.transaction()`. */
  constructor(
    private readonly store: LogStore,
    private readonly producer: EmbeddedProducer,
  ) {}

  /** Buffers records. Throws `InvalidStateError` after commit/abort. */
  send(records: readonly ProducerRecord[]): void {
    this.assertOpen('send');
    for (const r of records) this.records.push(r);
  }

  /**
   * Buffers consumer-group offset commits (next offset to read, + optional metadata). Throws
   * `InvalidStateError` after commit/abort, `ConfigError` for an offset that is not a non-negative integer.
   */
  sendOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void {
    this.assertOpen('sendOffsets');
    checkCommitOffsets(groupId, offsets);
    this.pendingOffsets.push({ groupId, offsets: [...offsets] });
  }

  /**
   * Checks the producer's epoch, appends all buffered records and upserts all buffered offsets in one
   * `BEGIN IMMEDIATE` transaction. Throws (writing nothing, leaving the transaction aborted)
   * `ProducerFencedError`, `UnknownTopicError`, `UnknownPartitionError`, `LogBusyError`; `InvalidStateError`
   * after commit/abort.
   */
  async commit(): Promise<AppendResult> {
    this.assertOpen('commit');
    const records = this.records;
    const pending = this.pendingOffsets;
    this.records = [];
    this.pendingOffsets = [];
    try {
      const offsets = this.store.writeTx(() => {
        this.producer.checkEpochInTx();
        const result = this.store.appendInTx(records);
        for (const { groupId, offsets: tpos } of pending) {
          for (const o of tpos) {
            const topic = this.store.requireTopic(o.topic);
            this.store.requirePartition(topic, o.partition);
            this.store.commitOffsetInTx(groupId, topic.topicId, o.partition, o.offset, o.metadata ?? null);
          }
        }
        return result;
      });
      this.state = 'committed';
      return { offsets };
    } catch (err) {
      this.state = 'aborted';
      throw err;
    } finally {
      this.producer.transactionEnded(this);
    }
  }

  /** Drops everything buffered. Safe to call twice; throws `InvalidStateError` after a successful commit. */
  async abort(): Promise<void> {
    if (this.state === 'aborted') return;
    if (this.state === 'committed') throw new InvalidStateError('Cannot abort a committed transaction.');
    this.state = 'aborted';
    this.records = [];
    this.pendingOffsets = [];
    this.producer.transactionEnded(this);
  }

  private assertOpen(op: string): void {
    if (this.state !== 'open') {
      throw new InvalidStateError(`Cannot ${op}: the transaction is already ${this.state}.`, {
        transactionalId: this.producer.transactionalId,
      });
    }
  }
}
