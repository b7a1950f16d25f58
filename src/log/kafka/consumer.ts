/**
 * A consumer-group member on Kafka, built on a kafkajs consumer (`read_committed`, `autoCommit: false`,
 * `eachBatch` with `eachBatchAutoResolve: false`, eddy's co-partitioned sticky assigner).
 *
 * kafkajs has no rebalance listener and rebalances eagerly. After each join (the GROUP_JOIN event, with the
 * new assignment) this member diffs the assignment against the previous one: partitions lost get
 * `onRevoked`, then partitions gained get `onAssigned`; a new member id (kafkajs re-joined from scratch
 * after a crash or an expired session) counts as losing everything and gaining the new assignment.
 * Gained partitions are paused until `onAssigned` has resolved; then their start offset is read from the
 * group (committed offset, else the log start), AFTER `onAssigned`, so a transactional producer created
 * there has already fenced the previous owner and that owner's last transaction is decided. kafkajs' own
 * OffsetFetch does not set KIP-447's `require_stable` and may see an older offset.
 *
 * With `startPaused`, gained partitions stay paused after `onAssigned` (the group's offsets are never read) until
 * `resume` names their offsets; `resume` checks each offset against the log start and high watermark, then seeks
 * and resumes under the handler lock. Paused partitions stay assigned: kafkajs keeps heartbeating and fetching the
 * others. A batch whose first record lies past the position (kafkajs reset the fetch position itself after an
 * OFFSET_OUT_OF_RANGE, or a gap of markers or compacted records) is checked against the log start: deleted records
 * fail the member with `RecordsDeletedError`, never skip.
 *
 * All handler calls (batches, onAssigned, onRevoked, onIdle) are serialized: never two at once. While a
 * handler runs inside kafkajs' batch callback, this member keeps heartbeating.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { EachBatchPayload, Kafka, Consumer as KafkaJsConsumer } from 'kafkajs';
import {
  ConfigError,
  InvalidStateError,
  RebalanceInProgressError,
  RecordsDeletedError,
  UnknownTopicError,
} from '../../errors.js';
import type { Consumer, ConsumerHandlers, ConsumerOptions, TopicPartition, TopicPartitionOffset } from '../contract.js';
import { tpKey } from '../contract.js';
import { checkResumePositions } from '../validate.js';
import { eddyAssigner } from './assigner.js';
import { entry, toEddyError } from './client.js';
import type { RawMessage } from './internals.js';
import { atEnd, IdleQueryError, logStart, Mutex, positionBounds, startOffsets } from './positions.js';
import type { RawClient } from './raw.js';
import { toLogRecord } from './reader.js';

/** Group timings in ms. */
export interface KafkaConsumerTimings {
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** How long without batches before checking whether every partition is at its end (`onIdle`). */
  readonly idleCheckMs: number;
  /** kafkajs' fetch long-poll wait; also how long a paused consumer sleeps. */
  readonly maxWaitMs: number;
}

interface PartState {
  readonly topic: string;
  readonly partition: number;
  /** pending: `onAssigned` not resolved yet; active: assigned and told (delivered unless `paused`). */
  state: 'pending' | 'active';
  /** The next offset to deliver (the position); -1 until known. */
  next: number;
  /** Not delivered: waiting for `resume` (startPaused) or paused by `pause`. */
  paused: boolean;
  /** The offset of the latest `resume`, applied under the handler lock. */
  want: number;
  /** Bumped by every `resume`; 0 = never resumed. */
  seq: number;
}

/** Set while a handler runs, so `stop()` called from inside a handler does not wait on itself. */
const handlerContext = new AsyncLocalStorage<KafkaConsumer>();

/** Errors thrown by handlers (after one, `onRevoked` is not called: the handler's state is unknown). */
const handlerErrors = new WeakSet<object>();

function isHandlerError(err: unknown): boolean {
  return err !== null && typeof err === 'object' && handlerErrors.has(err);
}

/**
 * A group member. Single use: `run` once (a second `run` rejects with `InvalidStateError`; `run` after
 * `stop` resolves at once). On a handler error `onRevoked` is NOT called: the member leaves the group and
 * `run` rejects with the error. When kafkajs gives up (a non-retriable error), `onRevoked` is called for the
 * assigned partitions before `run` rejects with a `KafkaError`.
 */
export class KafkaConsumer implements Consumer {
  private readonly maxBatchRecords: number;
  private readonly coPartitioned: boolean;
  private handlers: ConsumerHandlers | undefined;
  private kc: KafkaJsConsumer | undefined;
  private running: Promise<void> | undefined;
  private stopRequested = false;
  private failure: { error: unknown } | undefined;
  private shutdown: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private memberId: string | undefined;
  /** The latest assignment from the group, by tpKey. */
  private target = new Map<string, TopicPartition>();
  /** Partitions this member may deliver (active) or will once onAssigned resolved (pending). */
  private readonly parts = new Map<string, PartState>();
  /** Partitions the handlers were told about (onAssigned resolved, no onRevoked yet). */
  private readonly handed = new Map<string, TopicPartition>();
  private readonly lock = new Mutex();
  private chain: Promise<void> = Promise.resolve();
  private joined = false;
  private lastActivity = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleBusy = false;

  /**
   * @param kafka the client.
   * @param raw the raw client (offsets, metadata).
   * @param opts the contract's consumer options.
   * @param timings group timings.
   * @param onDone called when `run` has finished.
   */
  constructor(
    private readonly kafka: Kafka,
    private readonly raw: RawClient,
    private readonly opts: ConsumerOptions,
    private readonly timings: KafkaConsumerTimings,
    private readonly onDone: (c: KafkaConsumer) => void = () => {},
  ) {
    this.maxBatchRecords = opts.maxBatchRecords ?? 5_000;
    this.coPartitioned = opts.coPartitioned ?? true;
  }

  /**
   * Joins the group and delivers batches until `stop()`. Rejects with a handler's error, `UnknownTopicError`
   * for a subscribed topic that does not exist, `KafkaError` if kafkajs gives up (non-retriable crash), or
   * `InvalidStateError` if already running.
   */
  run(handlers: ConsumerHandlers): Promise<void> {
    if (this.running !== undefined) {
      return Promise.reject(
        new InvalidStateError('This consumer is already running or has run.', { groupId: this.opts.groupId }),
      );
    }
    if (this.stopRequested) {
      this.running = Promise.resolve();
      return this.running;
    }
    this.handlers = handlers;
    this.running = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.starting = this.start().catch((err: unknown) =>
      this.fail(toEddyError(err, 'consumer start', { groupId: this.opts.groupId })),
    );
    return this.running;
  }

  /**
   * Stops fetching, lets the batch in flight finish, runs `onRevoked` for all assigned partitions and leaves
   * the group; resolves when `run` has finished (at once when called from inside a handler). Never rejects.
   */
  async stop(): Promise<void> {
    this.stopRequested = true;
    if (this.running === undefined) return;
    const done = this.finish();
    if (handlerContext.getStore() === this) return;
    await done;
    await this.running.catch(() => undefined);
  }

  /**
   * Commits offsets for this member's group outside any transaction (the at-least-once path) through kafkajs'
   * `commitOffsets` (OffsetCommit with this member's id and generation, metadata included). Rejects with
   * `RebalanceInProgressError` (committing nothing) for a partition not assigned to this member, or when the
   * coordinator refuses the member's generation; `InvalidStateError` when not running; `KafkaError` otherwise.
   */
  async commitOffsets(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const kc = this.kc;
    if (kc === undefined || this.running === undefined || this.failure !== undefined) {
      throw new InvalidStateError('Cannot commit offsets: this consumer is not running.', {
        groupId: this.opts.groupId,
      });
    }
    const lost = offsets.filter((o) => this.parts.get(tpKey(o.topic, o.partition))?.state !== 'active');
    if (lost.length > 0) {
      throw new RebalanceInProgressError(
        this.opts.groupId,
        `cannot commit offsets of ${lost.map((o) => tpKey(o.topic, o.partition)).join(', ')}: not assigned to member ${this.memberId ?? '(none)'}`,
      );
    }
    if (offsets.length === 0) return;
    try {
      await kc.commitOffsets(
        offsets.map((o) => ({
          topic: o.topic,
          partition: o.partition,
          offset: String(o.offset),
          metadata: o.metadata ?? null,
        })),
      );
    } catch (err) {
      const type = (err as { type?: unknown } | null)?.type;
      if (type === 'REBALANCE_IN_PROGRESS' || type === 'ILLEGAL_GENERATION' || type === 'UNKNOWN_MEMBER_ID') {
        throw new RebalanceInProgressError(this.opts.groupId, `offset commit refused (${String(type)})`);
      }
      throw toEddyError(err, 'commit offsets', { groupId: this.opts.groupId });
    }
  }

  /**
   * Stops delivering these assigned partitions (kafkajs `pause`; the batch in flight finishes, the rest of its
   * kafkajs batch is not delivered); others are ignored. kafkajs keeps heartbeating. Safe to call at any time.
   */
  pause(tps: readonly TopicPartition[]): void {
    const paused: PartState[] = [];
    for (const tp of tps) {
      const st = this.parts.get(tpKey(tp.topic, tp.partition));
      if (st === undefined) continue;
      st.paused = true;
      paused.push(st);
    }
    this.pauseKc(paused);
  }

  /**
   * Delivers these assigned partitions from the given offsets (the latest call wins). Partitions not assigned are
   * ignored; given while `onAssigned` runs, the position is applied once it resolved. The position is checked
   * against the partition's log start and high watermark, then the partition is seeked and resumed, under the
   * handler lock (after the batch in flight). Below the log start `run` rejects with `RecordsDeletedError`, above
   * the high watermark with `ConfigError`. Safe to call at any time, from inside or outside a handler.
   */
  resume(positions: readonly TopicPartitionOffset[]): void {
    checkResumePositions(positions);
    const now: { st: PartState; seq: number }[] = [];
    for (const o of positions) {
      const st = this.parts.get(tpKey(o.topic, o.partition));
      if (st === undefined) continue;
      st.want = o.offset;
      st.seq++;
      if (st.state === 'active') now.push({ st, seq: st.seq });
    }
    if (now.length === 0 || this.stopRequested) return;
    this.lock.run(() => this.applyResume(now)).catch((err: unknown) => this.fail(err));
  }

  /** Checks the positions `resume` chose and starts delivering there (call under the lock). */
  private async applyResume(sts: readonly { st: PartState; seq: number }[]): Promise<void> {
    const current = () =>
      sts.filter(
        ({ st, seq }) =>
          st.seq === seq && st.state === 'active' && this.parts.get(tpKey(st.topic, st.partition)) === st,
      );
    if (this.stopRequested || this.failure !== undefined || current().length === 0) return;
    const bounds = await positionBounds(
      this.raw,
      current().map(({ st }) => st),
    );
    const live = current();
    for (const { st } of live) {
      const b = bounds.get(tpKey(st.topic, st.partition))!;
      if (st.want < b.low) throw new RecordsDeletedError(st.topic, st.partition, st.want, b.low);
      if (st.want > b.high) {
        throw new ConfigError(
          `Cannot resume ${st.topic}:${st.partition} at offset ${st.want}: the high watermark is ${b.high}.`,
          { topic: st.topic, partition: st.partition, offset: st.want, high: b.high },
        );
      }
    }
    if (this.stopRequested || this.failure !== undefined) return;
    for (const { st } of live) {
      st.next = st.want;
      st.paused = false;
      this.seek(st);
    }
    this.resumeKc(live.map(({ st }) => st));
    this.lastActivity = Date.now();
  }

  private async start(): Promise<void> {
    const known = await this.raw.topics();
    for (const t of this.opts.topics) if (!known.has(t)) throw new UnknownTopicError(t);
    const kc = this.kafka.consumer({
      groupId: this.opts.groupId,
      partitionAssigners: [eddyAssigner(this.coPartitioned, () => [...this.target.keys()])],
      sessionTimeout: this.timings.sessionTimeoutMs,
      heartbeatInterval: this.timings.heartbeatIntervalMs,
      maxWaitTimeInMs: this.timings.maxWaitMs,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      retry: { restartOnFailure: async () => !this.stopRequested && this.failure === undefined },
    });
    this.kc = kc;
    kc.on(kc.events.GROUP_JOIN, (e) => this.onJoin(e.payload.memberId, e.payload.memberAssignment));
    kc.on(kc.events.END_BATCH_PROCESS, (e) => this.onBatchEnd(e.payload));
    kc.on(kc.events.CRASH, (e) => {
      if (!e.payload.restart && !this.stopRequested)
        this.fail(toEddyError(e.payload.error, 'consumer', { groupId: this.opts.groupId }));
    });
    if (this.stopRequested) return;
    await kc.connect();
    await kc.subscribe({ topics: [...this.opts.topics], fromBeginning: true });
    if (this.stopRequested) return;
    await kc.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    this.lastActivity = Date.now();
    this.idleTimer = setInterval(() => void this.idleTick(), Math.max(50, Math.floor(this.timings.idleCheckMs / 2)));
    this.idleTimer.unref();
  }

  /** GROUP_JOIN: diff the assignment (synchronously), pause gained partitions, queue the handler calls. */
  private onJoin(memberId: string, assignment: Record<string, number[]>): void {
    const next = new Map<string, TopicPartition>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) next.set(tpKey(topic, partition), { topic, partition });
    }
    const newMember = this.memberId !== undefined && this.memberId !== memberId;
    this.memberId = memberId;
    const lost: TopicPartition[] = [];
    const gained: PartState[] = [];
    for (const [key, tp] of this.target) {
      if (newMember || !next.has(key)) {
        lost.push(tp);
        this.parts.delete(key);
      }
    }
    for (const [key, tp] of next) {
      const st = this.parts.get(key);
      if (newMember || !this.target.has(key) || st === undefined) {
        const fresh: PartState = {
          ...tp,
          state: 'pending',
          next: -1,
          paused: this.opts.startPaused === true,
          want: -1,
          seq: 0,
        };
        this.parts.set(key, fresh);
        gained.push(fresh);
      } else if (st.state === 'active' && !st.paused) {
        // kept: kafkajs restarts from the committed offset after a join; continue from our position
        this.seek(st);
      }
    }
    this.target = next;
    this.joined = true;
    this.pauseKc(gained);
    if (lost.length > 0 || gained.length > 0) {
      this.chain = this.chain.then(() => this.rebalance(lost, gained)).catch((err: unknown) => this.fail(err));
    }
  }

  /** Revokes lost partitions, then assigns gained ones, reads their start offsets and resumes them. */
  private async rebalance(lost: readonly TopicPartition[], gained: readonly PartState[]): Promise<void> {
    await this.lock.run(async () => {
      if (this.stopRequested || this.failure !== undefined) return;
      const h = this.handlers!;
      const revoked = lost.filter((tp) => this.handed.delete(tpKey(tp.topic, tp.partition)));
      if (revoked.length > 0 && h.onRevoked !== undefined) await this.call(() => h.onRevoked!(revoked));
      const live = gained.filter((st) => this.parts.get(tpKey(st.topic, st.partition)) === st);
      if (live.length === 0 || this.stopRequested) return;
      const tps = live.map((st) => ({ topic: st.topic, partition: st.partition }));
      for (const tp of tps) this.handed.set(tpKey(tp.topic, tp.partition), tp);
      if (h.onAssigned !== undefined) await this.call(() => h.onAssigned!(tps));
      const mine = () => live.filter((st) => this.parts.get(tpKey(st.topic, st.partition)) === st);
      // with startPaused (or a pause/resume during onAssigned) the group's committed offsets are never read
      const fromGroup = mine().filter((st) => !st.paused && st.seq === 0);
      const starts =
        fromGroup.length > 0 ? await startOffsets(this.raw, this.opts.groupId, fromGroup) : new Map<string, number>();
      const activated: PartState[] = [];
      const resumed: { st: PartState; seq: number }[] = [];
      for (const st of mine()) {
        st.state = 'active';
        if (st.seq > 0) resumed.push({ st, seq: st.seq });
        else if (!st.paused) {
          st.next = starts.get(tpKey(st.topic, st.partition))!;
          this.seek(st);
          activated.push(st);
        }
      }
      this.resumeKc(activated);
      if (resumed.length > 0) await this.applyResume(resumed);
      this.lastActivity = Date.now();
    });
  }

  /** kafkajs' batch callback: delivers the batch in slices of at most maxBatchRecords, under the lock. */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    if (this.stopRequested || this.failure !== undefined) return;
    const key = tpKey(batch.topic, batch.partition);
    const beat = setInterval(() => void heartbeat().catch(() => undefined), this.timings.heartbeatIntervalMs);
    try {
      await this.lock.run(async () => {
        const st = this.parts.get(key);
        const seq = st?.seq;
        const current = () =>
          !this.stopRequested &&
          this.failure === undefined &&
          isRunning() &&
          !isStale() &&
          this.parts.get(key) === st &&
          st?.paused !== true &&
          st?.seq === seq; // a resume (seek) since this kafkajs batch began: stop, the seek applies next
        if (st === undefined || st.state !== 'active' || !current()) return;
        const messages = batch.messages as unknown as RawMessage[];
        let i = 0;
        while (i < messages.length && Number(messages[i].offset) < st.next) i++;
        if (i < messages.length && Number(messages[i].offset) > st.next) {
          // a gap: markers, aborted or compacted records, or records deleted (retention, DeleteRecords) and
          // kafkajs reset the fetch position by itself. Never skip deleted records silently.
          const low = await logStart(this.raw, batch.topic, batch.partition);
          if (low > st.next) throw new RecordsDeletedError(batch.topic, batch.partition, st.next, low);
        }
        while (i < messages.length) {
          if (!current()) return;
          const slice = messages.slice(i, i + this.maxBatchRecords);
          i += slice.length;
          const records = slice.map((m) => toLogRecord(batch.topic, batch.partition, m));
          const h = this.handlers!;
          await this.call(() =>
            h.eachBatch({
              topic: batch.topic,
              partition: batch.partition,
              records,
              highWatermark: Number(batch.highWatermark),
            }),
          );
          const last = records[records.length - 1].offset;
          st.next = last + 1;
          this.lastActivity = Date.now();
          if (i < messages.length) resolveOffset(String(last));
        }
        if (!current()) return;
        // past trailing markers / aborted records, or past records delivered before (a re-fetch)
        st.next = Math.max(st.next, Number(batch.lastOffset()) + 1);
        resolveOffset(String(st.next - 1));
      });
    } catch (err) {
      this.fail(err);
    } finally {
      clearInterval(beat);
    }
  }

  /** END_BATCH_PROCESS of a batch with only markers/aborted records: kafkajs moved past them itself. */
  private onBatchEnd(p: { topic: string; partition: number; batchSize: number; lastOffset: string }): void {
    if (p.batchSize !== 0) return;
    const st = this.parts.get(tpKey(p.topic, p.partition));
    if (st?.state === 'active') st.next = Math.max(st.next, Number(p.lastOffset) + 1);
  }

  /** Calls `onIdle` when nothing arrived for a while and every partition's position is at its end (LSO). */
  private async idleTick(): Promise<void> {
    const h = this.handlers;
    if (h?.onIdle === undefined || this.idleBusy || !this.joined || this.stopRequested || this.failure !== undefined)
      return;
    if (this.lock.busy || Date.now() - this.lastActivity < this.timings.idleCheckMs) return;
    const parts = [...this.parts.values()];
    // not idle while a partition is paused (e.g. waiting for its restore) or waiting for onAssigned
    if (parts.some((st) => st.state !== 'active' || st.paused)) return;
    this.idleBusy = true;
    try {
      if (!(await atEnd(this.raw, parts))) return;
      await this.lock.run(async () => {
        if (this.stopRequested || this.failure !== undefined) return;
        const now = [...this.parts.values()];
        if (now.length !== parts.length || now.some((st, i) => st !== parts[i] || st.state !== 'active' || st.paused))
          return;
        await this.call(() => h.onIdle!());
      });
    } catch (err) {
      if (!(err instanceof IdleQueryError)) this.fail(err);
    } finally {
      this.idleBusy = false;
    }
  }

  /** Runs a handler (marking `stop()` calls from inside it); errors it throws are remembered as handler errors. */
  private call(fn: () => Promise<void>): Promise<void> {
    return handlerContext.run(this, fn).catch((err: unknown) => {
      if (err !== null && typeof err === 'object') handlerErrors.add(err);
      throw err;
    });
  }

  private seek(st: PartState): void {
    if (st.next < 0) return;
    try {
      this.kc?.seek({ topic: st.topic, partition: st.partition, offset: String(st.next) });
    } catch {
      // kafkajs is between a crash and its restart; the re-join re-assigns everything
    }
  }

  private pauseKc(sts: readonly { topic: string; partition: number }[]): void {
    this.pauseOrResume(sts, true);
  }

  private resumeKc(sts: readonly { topic: string; partition: number }[]): void {
    this.pauseOrResume(sts, false);
  }

  private pauseOrResume(sts: readonly { topic: string; partition: number }[], pause: boolean): void {
    if (sts.length === 0 || this.kc === undefined) return;
    const byTopic = new Map<string, number[]>();
    for (const st of sts) entry(byTopic, st.topic, () => []).push(st.partition);
    const arg = [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
    try {
      if (pause) this.kc.pause(arg);
      else this.kc.resume(arg);
    } catch {
      // see seek()
    }
  }

  /** Records the first failure and shuts down. */
  private fail(err: unknown): void {
    this.failure ??= { error: err };
    void this.finish();
  }

  private finish(): Promise<void> {
    this.shutdown ??= this.doShutdown();
    return this.shutdown;
  }

  /** Pause everything, wait for the handler in flight, revoke (unless failed), leave the group, settle `run`. */
  private async doShutdown(): Promise<void> {
    this.stopRequested = true;
    clearInterval(this.idleTimer);
    await this.starting?.catch(() => undefined);
    this.pauseKc([...this.target.values()]);
    await this.lock.run(async () => {
      const tps = [...this.handed.values()];
      this.handed.clear();
      const h = this.handlers;
      const handlerFailed = this.failure !== undefined && isHandlerError(this.failure.error);
      if (!handlerFailed && tps.length > 0 && h?.onRevoked !== undefined) {
        await this.call(() => h.onRevoked!(tps)).catch((err: unknown) => {
          this.failure ??= { error: err };
        });
      }
    });
    this.parts.clear();
    await this.kc?.disconnect().catch(() => undefined);
    this.onDone(this);
    if (this.failure !== undefined) this.settle?.reject(this.failure.error);
    else this.settle?.resolve();
  }
}
