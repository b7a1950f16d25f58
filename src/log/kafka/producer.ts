/**
 * Producers and transactions on Kafka (KIP-98). A transaction buffers records and offset commits in memory;
 * `commit` sends them with a kafkajs transactional producer (`idempotent`, `maxInFlightRequests: 1`), all
 * records of one partition in as few batches as the broker's size limit allows, then `sendOffsets`
 * (TxnOffsetCommit, with metadata) and EndTxn. Offsets of the records come from the produce responses
 * (base offset + position in the batch).
 *
 * Fencing: one transactional id per eddy task. kafkajs has no KIP-447 (no fencing by consumer group
 * generation), so a zombie is fenced only by a newer producer with the same id (InitProducerId bumps the
 * epoch). A fenced producer stays fenced. After any other failure the kafkajs producer is thrown away and
 * the next `transaction()` starts a new one (InitProducerId again, which also aborts a transaction left
 * open on the broker): kafkajs' InitProducerId is capped at v1 (no KIP-360 epoch bump for recovery).
 */

import { randomUUID } from 'node:crypto';
import type { Kafka, Producer as KafkaJsProducer, Transaction as KafkaJsTransaction } from 'kafkajs';
import { InvalidStateError, KafkaError, ProducerFencedError } from '../../errors.js';
import type { AppendResult, Producer, ProducerRecord, TopicPartitionOffset, Transaction } from '../contract.js';
import { tpKey } from '../contract.js';
import { checkCommitOffsets } from '../validate.js';
import {
  awaitVisible,
  type MaxBatchBytes,
  METADATA_MAX_AGE_MS,
  offsetTopics,
  produce,
  retryTxn,
  validateRecords,
} from './batches.js';
import { entry, isFencingError, toEddyError } from './client.js';
import { Partitioners } from './kafkajs.js';
import type { RawClient } from './raw.js';

/** Longest wait after a commit until the transaction is visible to read_committed readers, ms. */
const VISIBILITY_WAIT_MS = 5_000;

/** What producers share: the client, metadata, settings, and the log's one idempotent producer. */
export interface ProducerContext {
  readonly kafka: Kafka;
  readonly raw: RawClient;
  readonly transactionTimeoutMs: number;
  readonly idempotent: SharedProducer;
  /** A topic's `max.message.bytes`, bytes (cached by the log); undefined = the broker's default. */
  readonly maxBatchBytes?: MaxBatchBytes;
}

/** Creates a connected kafkajs producer; transactional when `transactionalId` is given. */
export async function connectProducer(kafka: Kafka, transactionalId: string | undefined, transactionTimeoutMs: number) {
  const p = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 10 },
    ...(transactionalId === undefined ? {} : { transactionalId, transactionTimeout: transactionTimeoutMs }),
  });
  try {
    await p.connect();
  } catch (err) {
    await p.disconnect().catch(() => undefined);
    throw toEddyError(err, 'connect producer', { transactionalId });
  }
  return p;
}

/**
 * The log's non-transactional idempotent kafkajs producer, created on first use and replaced after any
 * failed send (a failed idempotent send leaves kafkajs' sequence numbers unreliable).
 */
export class SharedProducer {
  private current: Promise<KafkaJsProducer> | undefined;

  /** @param kafka the client; nothing connects before `get()`. */
  constructor(private readonly kafka: Kafka) {}

  /** The producer, connecting it if needed. */
  get(): Promise<KafkaJsProducer> {
    this.current ??= connectProducer(this.kafka, undefined, 0).catch((err: unknown) => {
      this.current = undefined;
      throw err;
    });
    return this.current;
  }

  /** Throws `p` away if it is still the current one. */
  async discard(p: KafkaJsProducer): Promise<void> {
    if (this.current !== undefined && (await this.current.catch(() => undefined)) === p) this.current = undefined;
    await p.disconnect().catch(() => undefined);
  }

  /** Disconnects the producer, if any. */
  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    const p = await current?.catch(() => undefined);
    await p?.disconnect().catch(() => undefined);
  }
}

/**
 * A producer on Kafka. Without a transactional id, `send` uses the log's shared idempotent producer. With
 * one, `transaction()` (and `send`, which is a one-record-set transaction) uses this producer's own
 * kafkajs transactional producer; the first call fences older producers with the same id. A producer
 * without a transactional id may still open transactions (atomic, but fencing nothing): they run under a
 * random transactional id.
 */
export class KafkaProducer implements Producer {
  readonly transactionalId?: string;
  private kp: Promise<KafkaJsProducer> | undefined;
  private current: KafkaTransaction | 'starting' | undefined;
  private closed = false;
  private fenced: ProducerFencedError | undefined;
  private anonymousId: string | undefined;

  /**
   * @param ctx shared client state.
   * @param transactionalId optional transactional id (one per eddy task).
   * @param onClose called once on close.
   */
  constructor(
    private readonly ctx: ProducerContext,
    transactionalId: string | undefined,
    private readonly onClose: (p: KafkaProducer) => void = () => {},
  ) {
    if (transactionalId !== undefined) this.transactionalId = transactionalId;
  }

  /**
   * Begins a transaction (InitProducerId on first use, which fences older producers with this id). Throws
   * `InvalidStateError` (closed, or a transaction already open), `ProducerFencedError` (this producer was
   * fenced), `KafkaError`.
   */
  async transaction(): Promise<Transaction> {
    this.assertUsable();
    if (this.current !== undefined) {
      throw new InvalidStateError('A transaction is already open on this producer; commit or abort it first.', {
        transactionalId: this.transactionalId,
      });
    }
    this.current = 'starting';
    try {
      const kp = await this.producer();
      const ktx = await kp.transaction().catch(async (err: unknown) => {
        throw await this.failed(err, kp, undefined, Date.now());
      });
      const tx = new KafkaTransaction(this, kp, ktx);
      this.current = tx;
      return tx;
    } catch (err) {
      this.current = undefined;
      throw err;
    }
  }

  /**
   * Connects and, with a transactional id, fences older producers with the same id now (InitProducerId),
   * waiting until their open transaction is aborted or completed. Call it before restoring a task's state.
   * A no-op if a transaction is open. Throws `ProducerFencedError`, `InvalidStateError` when closed,
   * `KafkaError`.
   */
  async init(): Promise<void> {
    this.assertUsable();
    if (this.transactionalId === undefined || this.current !== undefined) return;
    const tx = await this.transaction();
    await tx.abort();
  }

  /**
   * Appends records outside a transaction (a transactional producer wraps them in one of its own, so it
   * cannot `send` while a transaction is open). Resolves with their offsets. Throws `UnknownTopicError`/
   * `UnknownPartitionError` (nothing written), `ProducerFencedError`, `InvalidStateError` (closed, or a
   * transaction open), `KafkaError` (for the non-transactional path some chunks may have been written).
   */
  async send(records: readonly ProducerRecord[]): Promise<AppendResult> {
    this.assertUsable();
    if (this.transactionalId !== undefined) {
      const tx = await this.transaction();
      tx.send(records);
      return tx.commit();
    }
    await validateRecords(this.ctx.raw, records);
    if (records.length === 0) return { offsets: new Map() };
    const kp = await this.ctx.idempotent.get();
    try {
      return {
        offsets: await produce(
          records,
          (topicMessages) => kp.sendBatch({ topicMessages, acks: -1 }),
          this.ctx.maxBatchBytes,
        ),
      };
    } catch (err) {
      await this.ctx.idempotent.discard(kp);
      throw toEddyError(err, 'send');
    }
  }

  /** Aborts the open transaction (nothing of it was sent yet) and disconnects. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.current instanceof KafkaTransaction) await this.current.abort().catch(() => undefined);
    this.current = undefined;
    await this.discard();
    this.onClose(this);
  }

  /** Sends everything of a transaction and commits it; see `KafkaTransaction.commit`. */
  async commitTransaction(
    kp: KafkaJsProducer,
    ktx: KafkaJsTransaction,
    records: readonly ProducerRecord[],
    offsets: ReadonlyMap<string, Map<string, TopicPartitionOffset>>,
  ): Promise<AppendResult> {
    const started = Date.now();
    try {
      this.assertUsable();
      await validateRecords(this.ctx.raw, records);
      for (const tpos of offsets.values()) {
        for (const o of tpos.values()) await this.ctx.raw.requirePartition(o.topic, o.partition, METADATA_MAX_AGE_MS);
      }
    } catch (err) {
      await ktx.abort().catch(() => undefined);
      throw err;
    }
    let result: Map<string, number[]>;
    try {
      result = await produce(
        records,
        (topicMessages) => ktx.sendBatch({ topicMessages, acks: -1 }),
        this.ctx.maxBatchBytes,
      );
      for (const [groupId, tpos] of offsets) {
        const topics = offsetTopics([...tpos.values()]);
        await retryTxn(() => ktx.sendOffsets({ consumerGroupId: groupId, topics }));
      }
      await ktx.commit();
    } catch (err) {
      throw await this.failed(err, kp, ktx, started);
    }
    // Committed. Wait (a few ms, at most 5 s) until it is visible: EndTxn returns before the coordinator wrote
    // the markers, and a read_committed reader sees our records only once every transaction open before them
    // is decided. Best effort: a broker hiccup here must not report the commit as failed.
    const wait = Math.min(VISIBILITY_WAIT_MS, this.ctx.transactionTimeoutMs);
    await awaitVisible(this.ctx.raw, result, offsets, wait).catch(() => undefined);
    return { offsets: result };
  }

  /** Called by a transaction when it ends. */
  transactionEnded(tx: KafkaTransaction): void {
    if (this.current === tx) this.current = undefined;
  }

  /** Maps a failure to an eddy error; throws the kafkajs producer away (and remembers fencing). */
  private async failed(
    err: unknown,
    kp: KafkaJsProducer,
    ktx: KafkaJsTransaction | undefined,
    started: number,
  ): Promise<Error> {
    const id = this.txnId();
    if (isFencingError(err)) {
      await this.discard(kp);
      if (Date.now() - started >= this.ctx.transactionTimeoutMs) {
        return new KafkaError('transaction commit', err, {
          retriable: true,
          details: { transactionalId: id, reason: 'the transaction timed out and was aborted by the coordinator' },
        });
      }
      // kafkajs does not expose producer epochs: -1 = unknown
      this.fenced ??= new ProducerFencedError(id, -1, -1);
      return this.fenced;
    }
    if (ktx?.isActive()) await ktx.abort().catch(() => undefined);
    await this.discard(kp);
    return toEddyError(err, 'transaction', { transactionalId: id });
  }

  private producer(): Promise<KafkaJsProducer> {
    this.kp ??= connectProducer(this.ctx.kafka, this.txnId(), this.ctx.transactionTimeoutMs).catch((err: unknown) => {
      this.kp = undefined;
      throw err;
    });
    return this.kp;
  }

  /** Disconnects the kafkajs producer (only `which`, if given and still current). */
  private async discard(which?: KafkaJsProducer): Promise<void> {
    const current = this.kp;
    if (current === undefined) return;
    const p = await current.catch(() => undefined);
    if (which !== undefined && p !== which) return;
    if (this.kp === current) this.kp = undefined;
    await p?.disconnect().catch(() => undefined);
  }

  /** The transactional id in use: the given one, or (for transactions of a producer without one) a random one. */
  private txnId(): string {
    this.anonymousId ??= this.transactionalId ?? `eddy-anonymous-${randomUUID()}`;
    return this.anonymousId;
  }

  private assertUsable(): void {
    if (this.closed) throw new InvalidStateError('This producer is closed.', { transactionalId: this.transactionalId });
    if (this.fenced !== undefined) throw this.fenced;
  }
}

/**
 * An open transaction: `send`/`sendOffsets` buffer in memory, so nothing reaches the broker before
 * `commit`. States: open -> committed | aborted (a failed commit leaves it aborted).
 */
export class KafkaTransaction implements Transaction {
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  private records: ProducerRecord[] = [];
  /** groupId -> tpKey -> offset (a later `sendOffsets` for the same partition wins). */
  private offsets = new Map<string, Map<string, TopicPartitionOffset>>();

  /** Created by `KafkaProducer.transaction()` around a begun kafkajs transaction. */
  constructor(
    private readonly producer: KafkaProducer,
    private readonly kp: KafkaJsProducer,
    private readonly ktx: KafkaJsTransaction,
  ) {}

  /** Buffers records. Throws `InvalidStateError` unless open. */
  send(records: readonly ProducerRecord[]): void {
    this.assertOpen('send');
    for (const r of records) this.records.push(r);
  }

  /**
   * Buffers offset commits for a consumer group (next offset to read, optional metadata, e.g. stream time).
   * Throws `InvalidStateError` unless open, `ConfigError` for an offset that is not an integer >= 0.
   */
  sendOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void {
    this.assertOpen('sendOffsets');
    checkCommitOffsets(groupId, offsets);
    const byTp = entry(this.offsets, groupId, () => new Map<string, TopicPartitionOffset>());
    for (const o of offsets) byTp.set(tpKey(o.topic, o.partition), o);
  }

  /**
   * Sends the records, commits the offsets and commits the transaction, then waits (usually a few ms, at
   * most 5 s) until read_committed readers see it: the commit markers are written and every transaction
   * open before its records is decided. Resolves with every record's offset per topic-partition, in send
   * order. Throws `ProducerFencedError` (nothing visible), `UnknownTopicError`/
   * `UnknownPartitionError` (nothing sent), `KafkaError` (aborted, or for a failed EndTxn possibly
   * committed: restart the task from committed offsets), `InvalidStateError` unless open.
   */
  async commit(): Promise<AppendResult> {
    this.assertOpen('commit');
    this.state = 'committing';
    try {
      const result = await this.producer.commitTransaction(this.kp, this.ktx, this.records, this.offsets);
      this.state = 'committed';
      return result;
    } catch (err) {
      this.state = 'aborted';
      throw err;
    } finally {
      this.records = [];
      this.offsets = new Map();
      this.producer.transactionEnded(this);
    }
  }

  /** Drops everything buffered. Safe to call twice; throws `InvalidStateError` after commit. */
  async abort(): Promise<void> {
    if (this.state === 'aborted') return;
    if (this.state !== 'open') throw new InvalidStateError(`Cannot abort a ${this.state} transaction.`);
    this.state = 'aborted';
    this.records = [];
    this.offsets = new Map();
    this.producer.transactionEnded(this);
    await this.ktx.abort().catch(() => undefined); // nothing was sent: kafkajs only resets its state
  }

  private assertOpen(op: string): void {
    if (this.state !== 'open') {
      throw new InvalidStateError(`Cannot ${op}: the transaction is already ${this.state}.`, {
        transactionalId: this.producer.transactionalId,
      });
    }
  }
}
