/**
 * The embedded log's consumer-group member: a loop that heartbeats, follows the group generation, claims
 * and releases partitions (see `group.ts`) and delivers batches round-robin over its assigned partitions.
 * Paused partitions (`startPaused` until `resume`, or `pause`) are skipped by the loop, which keeps heartbeating.
 * Before each batch the position is checked against the partition's low offset (non-compacted topics: there low
 * moves only by `deleteRecords`) and high watermark: `RecordsDeletedError` / `ConfigError`, never a skip.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  ConfigError,
  InvalidStateError,
  LogBusyError,
  RebalanceInProgressError,
  RecordsDeletedError,
} from '../../errors.js';
import type { Consumer, ConsumerHandlers, ConsumerOptions, TopicPartition, TopicPartitionOffset } from '../contract.js';
import { tpKey } from '../contract.js';
import { checkResumePositions } from '../validate.js';
import { assignSlots, computeSlots, type GroupStore, type Slot } from './group.js';
import type { LogStore } from './store.js';

/** Timing of group membership and polling, all in ms. */
export interface GroupTimings {
  /** A member whose last heartbeat is older than this is expired by the others. Default 10,000. */
  readonly sessionTimeoutMs: number;
  /** How often a running member renews its lease. Default 1,000. */
  readonly heartbeatIntervalMs: number;
  /** Sleep between polls when every assigned partition is at its high watermark. Default 25. */
  readonly idlePollMs: number;
  /** How often a member retries claiming partitions still held by another member. Default 50. */
  readonly claimRetryMs: number;
  /**
   * If the loop makes no progress (a handler runs) for longer than this, heartbeats stop so the group can
   * give the partitions to another member (Kafka's `max.poll.interval.ms`). Default 300,000.
   */
  readonly maxPollIntervalMs: number;
}

/** Defaults for `GroupTimings`. */
export const DEFAULT_GROUP_TIMINGS: GroupTimings = {
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  idlePollMs: 25,
  claimRetryMs: 50,
  maxPollIntervalMs: 300_000,
};

interface Position {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to deliver; -1 until known (a `startPaused` partition not resumed yet). */
  next: number;
  /** Not delivered: waiting for `resume` (startPaused) or paused by `pause`. */
  paused: boolean;
  /** Bumped by every `resume`, so a batch in flight does not overwrite the position a resume chose. */
  seq: number;
  /** `onAssigned` has not resolved yet: nothing is delivered. */
  assigning: boolean;
}

/** Set while a handler of a consumer runs, so `stop()` called from inside a handler does not wait on itself. */
const handlerContext = new AsyncLocalStorage<EmbeddedConsumer>();

/**
 * A group member on the embedded log. Single use: `run` once, `stop` once (a second `run` rejects with
 * `InvalidStateError`; `run` after `stop` resolves at once). On a handler error `onRevoked` is NOT called
 * (the handler's state is unknown): the member leaves the group and `run` rejects with the error.
 */
export class EmbeddedConsumer implements Consumer {
  /** This member's id in `log_group_members` (a random UUID). */
  readonly memberId = randomUUID();
  private readonly groupId: string;
  private readonly maxBatchRecords: number;
  private readonly coPartitioned: boolean;
  private running: Promise<void> | undefined;
  private stopRequested = false;
  /** `run` has finished (the member left the group). */
  private done = false;
  private wake: (() => void) | undefined;
  private generation = -1;
  private readonly owned = new Map<string, Slot>();
  private pending: Slot[] = [];
  private nextClaimAt = 0;
  private positions: Position[] = [];
  private lastHeartbeatAt = 0;
  private lastProgressAt = 0;
  private heartbeatError: unknown;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param store the log's store.
   * @param group group SQL on the same connection.
   * @param opts the contract's consumer options (subscribed topics are resolved when `run` starts).
   * @param timings group timings.
   * @param onDone called when `run` has finished.
   */
  constructor(
    private readonly store: LogStore,
    private readonly group: GroupStore,
    private readonly opts: ConsumerOptions,
    private readonly timings: GroupTimings,
    private readonly onDone: (c: EmbeddedConsumer) => void = () => {},
  ) {
    this.groupId = opts.groupId;
    this.maxBatchRecords = opts.maxBatchRecords ?? 5_000;
    this.coPartitioned = opts.coPartitioned ?? true;
  }

  /**
   * Joins the group and delivers batches until `stop()`. Rejects with a handler's error, `UnknownTopicError`
   * for a subscribed topic that does not exist, `LogBusyError`, or `InvalidStateError` if already running.
   */
  run(handlers: ConsumerHandlers): Promise<void> {
    if (this.running !== undefined) {
      return Promise.reject(
        new InvalidStateError('This consumer is already running or has run.', { groupId: this.groupId }),
      );
    }
    this.running = this.stopRequested ? Promise.resolve() : this.loop(handlers);
    return this.running;
  }

  /**
   * Stops delivering these assigned partitions (after the batch in flight); others are ignored. Heartbeats go on.
   * Safe to call at any time, from inside or outside a handler.
   */
  pause(tps: readonly TopicPartition[]): void {
    const keys = new Set(tps.map((tp) => tpKey(tp.topic, tp.partition)));
    for (const pos of this.positions) if (keys.has(tpKey(pos.topic, pos.partition))) pos.paused = true;
  }

  /**
   * Delivers these assigned partitions from the given offsets (a seek; the latest call wins). Partitions not
   * assigned are ignored. Given while `onAssigned` runs, it takes effect once `onAssigned` resolved. An offset
   * below the log start of a non-compacted topic (records deleted) makes `run` reject with `RecordsDeletedError`;
   * one above the high watermark with `ConfigError`. Safe to call at any time.
   */
  resume(positions: readonly TopicPartitionOffset[]): void {
    checkResumePositions(positions);
    const byKey = new Map(positions.map((o) => [tpKey(o.topic, o.partition), o.offset]));
    for (const pos of this.positions) {
      const offset = byKey.get(tpKey(pos.topic, pos.partition));
      if (offset === undefined) continue;
      pos.next = offset;
      pos.paused = false;
      pos.seq++;
    }
    this.wake?.();
  }

  /**
   * Stops fetching, lets the batch in flight finish, runs `onRevoked` for all assigned partitions and leaves
   * the group; resolves when `run` has finished (at once when called from inside a handler). Never rejects.
   */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.wake?.();
    const running = this.running;
    if (running === undefined || handlerContext.getStore() === this) return;
    await running.catch(() => undefined);
  }

  /**
   * Commits offsets for this member's group outside any transaction (the at-least-once path), in one SQLite
   * transaction. Rejects with `RebalanceInProgressError` (committing nothing) if any partition is not assigned to
   * this member, locally or in the group's claims (another member took it over); `InvalidStateError` when not
   * running; `ConfigError` for a bad offset.
   */
  async commitOffsets(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.running === undefined || this.done) {
      throw new InvalidStateError('Cannot commit offsets: this consumer is not running.', { groupId: this.groupId });
    }
    const mine = new Set([...this.owned.values()].flatMap((s) => s.tps.map((tp) => tpKey(tp.topic, tp.partition))));
    const notOwned = (held: ReadonlySet<string>) =>
      offsets.filter((o) => !mine.has(tpKey(o.topic, o.partition)) || !held.has(tpKey(o.topic, o.partition)));
    this.store.commitOffsets(this.groupId, offsets, () => {
      const lost = notOwned(this.group.claimsOf(this.groupId, this.memberId));
      if (lost.length > 0) {
        throw new RebalanceInProgressError(
          this.groupId,
          `cannot commit offsets of ${lost.map((o) => tpKey(o.topic, o.partition)).join(', ')}: not assigned to member ${this.memberId}`,
        );
      }
    });
  }

  private async loop(h: ConsumerHandlers): Promise<void> {
    await Promise.resolve();
    this.store.assertOpen();
    const now = Date.now();
    this.group.join(this.groupId, this.memberId, now, this.timings.sessionTimeoutMs);
    this.lastHeartbeatAt = now;
    this.lastProgressAt = now;
    this.timer = setInterval(() => this.heartbeat(false), this.timings.heartbeatIntervalMs);
    this.timer.unref();
    let failed = false;
    let error: unknown;
    try {
      while (!this.stopRequested) {
        this.lastProgressAt = Date.now();
        this.heartbeat(true);
        await this.rebalance(h);
        if (this.stopRequested) break;
        if (await this.deliverTurn(h)) {
          // Handlers on the embedded log often resolve in microtasks only; let timers, I/O and signals run.
          await yieldToEventLoop();
          continue;
        }
        if (this.stopRequested) continue;
        // not idle while a partition is paused (e.g. waiting for its restore) or still to be claimed
        const allDelivering = this.positions.every((p) => !p.paused && !p.assigning);
        if (this.pending.length === 0 && allDelivering && h.onIdle !== undefined) await this.call(() => h.onIdle!());
        if (!this.stopRequested) await this.sleep(this.timings.idlePollMs);
      }
      const tps = [...this.owned.values()].flatMap((s) => s.tps);
      if (tps.length > 0 && h.onRevoked !== undefined) await this.call(() => h.onRevoked!(tps));
    } catch (err) {
      failed = true;
      error = err;
    } finally {
      clearInterval(this.timer);
      this.done = true;
      this.owned.clear();
      this.setPositions([]);
      try {
        this.store.assertOpen();
        this.group.leave(this.groupId, this.memberId);
      } catch (err) {
        if (!failed) {
          failed = true;
          error = err;
        }
      }
      this.onDone(this);
    }
    if (failed) throw error;
  }

  /** Renews the lease when due; from the loop (`fromLoop`) or the timer. Errors surface in the loop. */
  private heartbeat(fromLoop: boolean): void {
    const now = Date.now();
    if (now - this.lastHeartbeatAt < this.timings.heartbeatIntervalMs) {
      if (fromLoop && this.heartbeatError !== undefined) throw this.heartbeatError;
      return;
    }
    if (!fromLoop && now - this.lastProgressAt > this.timings.maxPollIntervalMs) return;
    try {
      this.store.assertOpen();
      this.group.heartbeat(this.groupId, this.memberId, now, this.timings.sessionTimeoutMs);
      this.lastHeartbeatAt = now;
      this.heartbeatError = undefined;
    } catch (err) {
      if (fromLoop) throw err;
      // A lock held elsewhere for a while: try again on the next tick (the loop would hit it too).
      if (!(err instanceof LogBusyError)) this.heartbeatError = err;
    }
  }

  /**
   * Follows membership: on a new generation recomputes the target assignment, revokes slots no longer
   * targeted (or whose claims were taken after this member expired), then claims targeted slots as soon as
   * their previous owners release them; reads committed offsets after `onAssigned`, so a transactional
   * producer created there has already fenced the previous owner.
   */
  private async rebalance(h: ConsumerHandlers): Promise<void> {
    const generation = this.group.generation(this.groupId);
    if (generation !== this.generation) {
      this.generation = generation;
      const topics = this.opts.topics.map((name) => this.store.requireTopic(name));
      const slots = computeSlots(topics, this.coPartitioned);
      const target = assignSlots(slots, this.group.members(this.groupId), this.memberId);
      const targetIds = new Set(target.map((s) => s.id));
      const held = this.group.claimsOf(this.groupId, this.memberId);
      const lost = [...this.owned.values()].filter(
        (s) => !targetIds.has(s.id) || s.tps.some((tp) => !held.has(tpKey(tp.topic, tp.partition))),
      );
      if (lost.length > 0) await this.revoke(h, lost);
      this.pending = target.filter((s) => !this.owned.has(s.id));
      this.nextClaimAt = 0;
    }
    if (this.pending.length === 0 || Date.now() < this.nextClaimAt || this.stopRequested) return;
    const claimed = this.group.tryClaim(this.groupId, this.memberId, this.pending);
    this.nextClaimAt = Date.now() + this.timings.claimRetryMs;
    if (claimed.length === 0) return;
    const ids = new Set(claimed.map((s) => s.id));
    this.pending = this.pending.filter((s) => !ids.has(s.id));
    for (const s of claimed) this.owned.set(s.id, s);
    const tps = claimed.flatMap((s) => s.tps);
    const added = tps.map((tp) => ({ ...tp, next: -1, paused: true, seq: 0, assigning: true }));
    this.setPositions([...this.positions, ...added]);
    if (h.onAssigned !== undefined) await this.call(() => h.onAssigned!(tps));
    this.startPositions(added.filter((p) => this.positions.includes(p)));
  }

  private async revoke(h: ConsumerHandlers, slots: readonly Slot[]): Promise<void> {
    const tps = slots.flatMap((s) => s.tps);
    for (const s of slots) this.owned.delete(s.id);
    this.setPositions(
      this.positions.filter((p) => !tps.some((tp) => tp.topic === p.topic && tp.partition === p.partition)),
    );
    if (h.onRevoked !== undefined) await this.call(() => h.onRevoked!(tps));
    this.group.release(this.groupId, this.memberId, tps);
  }

  /**
   * After `onAssigned`: with `startPaused`, partitions wait for `resume` (unless it came during `onAssigned`);
   * otherwise each starts at the group's committed offset, or at the partition's low offset (unless `resume` chose
   * one during `onAssigned`).
   */
  private startPositions(added: readonly Position[]): void {
    const committedByTopic = new Map<string, Map<number, { offset: number }>>();
    for (const pos of added) {
      pos.assigning = false;
      if (this.opts.startPaused === true || pos.seq > 0) continue;
      const topic = this.store.topic(pos.topic);
      if (topic === undefined) continue;
      let committed = committedByTopic.get(pos.topic);
      if (committed === undefined) {
        committed = this.store.committedOffsets(this.groupId, topic.topicId);
        committedByTopic.set(pos.topic, committed);
      }
      pos.next = committed.get(pos.partition)?.offset ?? this.store.low(topic.topicId, pos.partition);
      pos.paused = false;
    }
  }

  private setPositions(positions: Position[]): void {
    this.positions = positions;
  }

  /**
   * One batch per assigned partition that has data. Returns true when the loop should go on at once
   * (something was delivered, or the membership changed mid-turn), false when everything was idle.
   */
  private async deliverTurn(h: ConsumerHandlers): Promise<boolean> {
    let delivered = false;
    const positions = this.positions;
    for (let i = 0; i < positions.length && !this.stopRequested; i++) {
      // A membership change since the turn began: rebalance before delivering more (limits zombie work).
      if (i > 0 && this.group.generation(this.groupId) !== this.generation) return true;
      const pos = positions[i];
      if (pos.paused || pos.assigning) continue;
      const topic = this.store.topic(pos.topic);
      if (topic === undefined) continue;
      const high = this.store.high(topic.topicId, pos.partition);
      if (pos.next > high) {
        throw new ConfigError(
          `Cannot deliver ${pos.topic}:${pos.partition} from offset ${pos.next}: the high watermark is ${high}.`,
          { topic: pos.topic, partition: pos.partition, offset: pos.next, high },
        );
      }
      // compaction also moves the low offset of a compacted topic (records superseded, not lost)
      const low = topic.compacted ? 0 : this.store.low(topic.topicId, pos.partition);
      if (pos.next < low) throw new RecordsDeletedError(pos.topic, pos.partition, pos.next, low);
      if (pos.next >= high) continue;
      const records = this.store.readRecords(
        pos.topic,
        topic.topicId,
        pos.partition,
        pos.next,
        high,
        this.maxBatchRecords,
      );
      if (records.length === 0) {
        pos.next = high; // the range was compacted away
        continue;
      }
      const seq = pos.seq;
      await this.call(() => h.eachBatch({ topic: pos.topic, partition: pos.partition, records, highWatermark: high }));
      if (pos.seq === seq) pos.next = records[records.length - 1].offset + 1;
      this.lastProgressAt = Date.now();
      delivered = true;
    }
    return delivered;
  }

  private call(fn: () => Promise<void>): Promise<void> {
    return handlerContext.run(this, fn);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    }).then(() => {
      this.wake = undefined;
    });
  }
}
