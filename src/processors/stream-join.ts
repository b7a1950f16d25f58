import { derive, type ErrorPolicy, FAILED, type Flowing, guarded, type Processor } from './context.js';
import { NO_STREAM_TIME } from './window.js';

/**
 * A stream–stream join window (Kafka Streams `JoinWindows`): a left record at `t` joins right records with timestamps
 * in [t − beforeMs, t + afterMs], both ends inclusive; a right record at `t` joins left records in
 * [t − afterMs, t + beforeMs]. Records are kept for `beforeMs + afterMs + graceMs` behind stream time (the join
 * buffers' retention); an unmatched record of a left/outer join is emitted once stream time passes its window's end
 * + `graceMs`. All in ms.
 */
export interface JoinWindows {
  readonly beforeMs: number;
  readonly afterMs: number;
  readonly graceMs: number;
}

/**
 * A join window with its own `beforeMs`/`afterMs` (Kafka Streams `JoinWindows.ofTimeDifferenceAndGrace(...)
 * .before(...).after(...)`). `graceMs` defaults to 0 (Kafka Streams 3.9's `ofTimeDifferenceWithNoGrace`).
 * A window of size 0 (before = after = 0: records join on equal timestamps) is allowed, as in Kafka Streams.
 * @throws RangeError when a bound is not a non-negative integer.
 */
export function joinWindows(opts: { beforeMs: number; afterMs: number; graceMs?: number }): JoinWindows {
  const w = { beforeMs: opts.beforeMs, afterMs: opts.afterMs, graceMs: opts.graceMs ?? 0 };
  for (const [field, v] of Object.entries(w))
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`join window ${field} must be a non-negative integer (ms), got ${v}`);
  return w;
}

/**
 * A symmetric join window: records join when their timestamps differ by at most `timeDifferenceMs` (Kafka Streams
 * `JoinWindows.ofTimeDifferenceAndGrace(timeDifference, grace)`; `graceMs` defaults to 0, as
 * `ofTimeDifferenceWithNoGrace`).
 */
joinWindows.of = (timeDifferenceMs: number, graceMs = 0): JoinWindows =>
  joinWindows({ beforeMs: timeDifferenceMs, afterMs: timeDifferenceMs, graceMs });

/** The kind of a stream–stream join: which sides emit a result with `null` for the missing partner. */
export type StreamJoinKind = 'inner' | 'left' | 'outer';

/** What the join's unmatched store holds per (key, record timestamp): each side's unmatched values, in order. */
export interface Unmatched<VL, VR> {
  left: VL[];
  right: VR[];
}

/** Options of one side's processor of a stream–stream join. */
export interface StreamJoinSideOptions {
  /** The join's name: also the name of its stream time, shared by both sides. */
  readonly join: string;
  /** This processor's name (for dead letters and metrics): `<join>-left` or `<join>-right`. */
  readonly name: string;
  readonly side: 'left' | 'right';
  readonly kind: StreamJoinKind;
  readonly window: JoinWindows;
  /** Buffer stores: (key, record timestamp) -> the list of that side's values at that timestamp. */
  readonly leftStore: string;
  readonly rightStore: string;
  /** Left/outer joins: the store of unmatched records waiting for their window to close. */
  readonly unmatchedStore?: string;
  readonly joiner: (left: unknown, right: unknown, key: unknown) => unknown;
  readonly policy: ErrorPolicy;
}

/**
 * One side of a stream–stream join (Kafka Streams 3.9 `KStreamKStreamJoinLeftSide`/`RightSide`, with the spurious
 * result fix of KIP-633). For each record of this side, in offset order:
 * 1. stream time (one per join, shared by both sides) advances to the record's timestamp;
 * 2. a null key (left side of a left/outer join, either side of an outer join) gives `joiner(value, null)` at once;
 *    otherwise a null key or value drops the record (counted as dropped);
 * 3. a record at or before stream time − (before + after + grace) is late: the buffers no longer hold what it could
 *    join, so it is counted and dead-lettered (`late record: ...`);
 * 4. if the record did not arrive out of order (its timestamp equals stream time), unmatched records whose window
 *    closed (left: t + after + grace < stream time; right: t + before + grace < stream time) are emitted, ordered by
 *    timestamp, then right side before left side, then key bytes (Kafka Streams' outer store order), stamped with
 *    their own timestamp;
 * 5. the record is joined with the other side's buffered records in its window, ordered by their timestamp then
 *    arrival, each result stamped max(left, right); each match removes the partner from the unmatched store;
 * 6. with no match, a left/outer side's record is emitted at once with `null` if its window end is already behind
 *    stream time (an out-of-order record, as Kafka Streams does), else kept in the unmatched store;
 * 7. the record is appended to this side's buffer.
 * After the batch, both buffers drop the records at or before stream time − (before + after + grace) (tombstones).
 */
export function streamJoinProcessor(o: StreamJoinSideOptions): Processor {
  const { beforeMs, afterMs, graceMs } = o.window;
  const retentionMs = beforeMs + afterMs + graceMs;
  // This side's window, as seen from its records; a left record looks back `before` and ahead `after`.
  const [lookBackMs, lookAheadMs] = o.side === 'left' ? [beforeMs, afterMs] : [afterMs, beforeMs];
  const outerThis = o.kind === 'outer' || (o.kind === 'left' && o.side === 'left');
  const thisStoreName = o.side === 'left' ? o.leftStore : o.rightStore;
  const otherStoreName = o.side === 'left' ? o.rightStore : o.leftStore;
  const otherSide = o.side === 'left' ? 'right' : 'left';
  // Lower bound of the unmatched store's timestamps, kept as a negated stream time (persisted with the offsets and
  // put back on an abort; restored as the max over committed metadata, i.e. the lowest bound: always safe). Unset
  // (NO_STREAM_TIME) means the store is empty, since every write lowers it in the same batch.
  const hintName = `${o.join}#unmatched-min`;
  const joined = (l: unknown, r: unknown, key: unknown) =>
    o.side === 'left' ? o.joiner(l, r, key) : o.joiner(r, l, key);

  return {
    process(records, ctx) {
      const mine = ctx.windowStore<unknown, unknown[]>(thisStoreName);
      const other = ctx.windowStore<unknown, unknown[]>(otherStoreName);
      const unmatched =
        o.unmatchedStore === undefined
          ? undefined
          : ctx.windowStore<unknown, Unmatched<unknown, unknown>>(o.unmatchedStore);
      const before = ctx.streamTime(o.join);
      let now = before;
      const out: Flowing[] = [];
      const minOf = () => -ctx.streamTime(hintName);
      const setMin = (ms: number) => ctx.setStreamTime(hintName, -ms);

      // Unmatched entries that may close during this batch (timestamp below `horizon`), one queue per side, ordered
      // by timestamp then key bytes: loaded once per batch (when the bound says there may be any), extended by the
      // batch's own unmatched records. A queue item may be stale (its partner came): the store is read when it closes.
      const closeBy = { left: afterMs + graceMs, right: beforeMs + graceMs };
      let maxNow = before;
      for (const r of records) if (r.timestamp > maxNow) maxNow = r.timestamp;
      const horizon = maxNow - Math.min(closeBy.left, closeBy.right);
      const queues: Record<'left' | 'right', QueueItem[]> = { left: [], right: [] };
      const heads = { left: 0, right: 0 };
      const loaded = unmatched !== undefined && minOf() < horizon;
      if (loaded)
        for (const e of unmatched.startingIn(Number.MIN_SAFE_INTEGER, horizon))
          for (const side of ['left', 'right'] as const)
            if (e.value[side].length > 0)
              queues[side].push({ ts: e.windowStartMs, key: e.key, keyBytes: unmatched.keyBytes(e.key) });

      const emitClosed = (trigger: Flowing) => {
        if (unmatched === undefined) return;
        const due: (QueueItem & { side: 'left' | 'right' })[] = [];
        for (const side of ['right', 'left'] as const) {
          const q = queues[side];
          while (heads[side] < q.length && q[heads[side]].ts + closeBy[side] < now)
            due.push({ ...q[heads[side]++], side });
        }
        if (due.length === 0) return;
        // Kafka Streams' outer store order: timestamp, then right before left, then key bytes.
        due.sort(
          (a, b) =>
            a.ts - b.ts ||
            (a.side === b.side ? 0 : a.side === 'right' ? -1 : 1) ||
            Buffer.compare(a.keyBytes, b.keyBytes),
        );
        for (const d of due) {
          const u = unmatched.get(d.key, d.ts);
          if (u === undefined || u[d.side].length === 0) continue;
          for (const v of u[d.side]) {
            const res = guarded(ctx, o.name, trigger, o.policy, () =>
              d.side === 'left' ? o.joiner(v, null, d.key) : o.joiner(null, v, d.key),
            );
            if (res !== FAILED) out.push(derive(trigger, d.key, res, d.ts));
          }
          const rest = { ...u, [d.side]: [] };
          if (rest.left.length === 0 && rest.right.length === 0) unmatched.remove(d.key, d.ts);
          else unmatched.put(d.key, d.ts, rest);
        }
      };

      for (const r of records) {
        const t = r.timestamp;
        if (t > now) now = t;
        ctx.setStreamTime(o.join, now);
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) {
          if (outerThis && (r.key === null || r.key === undefined) && r.value !== null && r.value !== undefined) {
            const res = guarded(ctx, o.name, r, o.policy, () => joined(r.value, null, r.key));
            if (res !== FAILED) out.push(derive(r, r.key, res));
          } else ctx.metrics.dropped(o.name);
          continue;
        }
        if (t <= now - retentionMs) {
          ctx.metrics.late(o.name);
          ctx.deadLetter(
            r,
            o.name,
            `late record: event time ${new Date(t).toISOString()} is at or before stream time ${new Date(now).toISOString()} − (before + after + grace) of join ${o.join}`,
          );
          continue;
        }
        if (t === now) emitClosed(r);
        // Kafka Streams clips both bounds at 0 (Kafka timestamps are never negative); eddy's may be, so no clip. Partners
        // at or before stream time − retention are left out whether or not retention has removed them yet.
        const from = Math.max(t - lookBackMs, now - retentionMs + 1);
        const to = t + lookAheadMs;
        const partners = from > to ? [] : other.fetch(r.key, from, to);
        let matched = false;
        for (const p of partners) {
          if (unmatched !== undefined) {
            const u = unmatched.get(r.key, p.windowStartMs);
            if (u !== undefined && u[otherSide].length > 0) {
              const rest = { ...u, [otherSide]: [] };
              if (rest.left.length === 0 && rest.right.length === 0) unmatched.remove(r.key, p.windowStartMs);
              else unmatched.put(r.key, p.windowStartMs, rest);
            }
          }
          for (const v of p.value) {
            matched = true;
            const res = guarded(ctx, o.name, r, o.policy, () => joined(r.value, v, r.key));
            if (res !== FAILED) out.push(derive(r, r.key, res, Math.max(t, p.windowStartMs)));
          }
        }
        if (outerThis && !matched) {
          if (unmatched === undefined || t + lookAheadMs < now) {
            const res = guarded(ctx, o.name, r, o.policy, () => joined(r.value, null, r.key));
            if (res !== FAILED) out.push(derive(r, r.key, res));
          } else {
            const u = unmatched.get(r.key, t) ?? { left: [], right: [] };
            unmatched.put(r.key, t, { ...u, [o.side]: [...u[o.side], r.value] });
            setMin(Math.min(minOf(), t));
            if (t < horizon) insertSorted(queues[o.side], { ts: t, key: r.key, keyBytes: unmatched.keyBytes(r.key) });
          }
        }
        mine.put(r.key, t, [...(mine.get(r.key, t) ?? []), r.value]);
      }

      // The new lower bound of the unmatched store: what was not loaded lies at or after `horizon`.
      if (loaded) {
        let lowest = horizon;
        for (const side of ['left', 'right'] as const)
          if (heads[side] < queues[side].length) lowest = Math.min(lowest, queues[side][heads[side]].ts);
        setMin(lowest);
      }
      // Retention, after what closed was emitted: drop buffered records at or before now − retention.
      if (now !== before) {
        const from = before === NO_STREAM_TIME ? Number.MIN_SAFE_INTEGER : before - retentionMs + 1;
        for (const store of [mine, other])
          for (const e of store.startingIn(from, now - retentionMs + 1)) store.remove(e.key, e.windowStartMs);
      }
      return out;
    },
  };
}

/** An unmatched store entry waiting for its side's window to close. */
interface QueueItem {
  readonly ts: number;
  readonly key: unknown;
  readonly keyBytes: Buffer;
}

/** Inserts `item` into `q`, ordered by timestamp then key bytes (new items mostly go last). */
function insertSorted(q: QueueItem[], item: QueueItem): void {
  let i = q.length;
  while (
    i > 0 &&
    (q[i - 1].ts > item.ts || (q[i - 1].ts === item.ts && Buffer.compare(q[i - 1].keyBytes, item.keyBytes) > 0))
  )
    i--;
  q.splice(i, 0, item);
}
