import { NO_TIMESTAMP } from '../state/sqlite.js';
import {
  derive,
  type ErrorPolicy,
  FAILED,
  type Flowing,
  guarded,
  type Processor,
  type ProcessorContext,
  type Rec,
} from './context.js';
import type { Change, TableGetter, ValueAndTimestamp } from './table.js';

/** Kinds of table–table joins (Kafka Streams `KTable#join`, `leftJoin`, `outerJoin`). */
export type TableJoinKind = 'inner' | 'left' | 'outer';

/**
 * Stream–table join (Kafka Streams `KStreamKTableJoin`): each stream record looks its key up in the table as it is
 * at the record's arrival. `inner`: a miss (or a null key) is dropped (counted); `left`: the joiner gets null. The
 * result keeps the stream record's key and timestamp. Table updates emit nothing.
 */
export function streamTableJoinProcessor<K, V, TV, V2>(opts: {
  name: string;
  table: TableGetter<K, TV>;
  joiner: (value: V, tableValue: TV | null, r: Rec<K, V>) => V2;
  kind: 'inner' | 'left';
  policy: ErrorPolicy;
}): Processor {
  const { name, policy } = opts;
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        const res = guarded(ctx, name, r, policy, () => {
          // A null key matches no row (Kafka Streams: inner drops it, left joins it with null, KIP-962).
          const tv = r.key === null || r.key === undefined ? undefined : opts.table(ctx, r.key);
          if (tv === undefined && opts.kind === 'inner') return MISSING;
          return opts.joiner(r.value, tv === undefined ? null : tv.value, r);
        });
        if (res === FAILED) continue;
        if (res === MISSING) {
          ctx.metrics.dropped(name);
          continue;
        }
        out.push(derive(r, r.key, res as V2));
      }
      return out;
    },
  };
}

const MISSING: unique symbol = Symbol('eddy.join.missing');

/** The joiner as the left side sees it; the right side calls it with the arguments the other way round. */
export type TableJoiner<L, R, VR> = (left: L | null, right: R | null) => VR;

/**
 * One side of a table–table join (Kafka Streams `KTableKTableInnerJoin`, `KTableKTableLeftJoin`,
 * `KTableKTableRightJoin`, `KTableKTableOuterJoin`): for each change of this side's table, the other side's current
 * value is looked up and the joined `Change(new, old)` forwarded with timestamp max(this update, the other value).
 * `thisOuter`: this side's rows appear without a partner (left side of a left join, both sides of an outer join);
 * `otherOuter`: the other side's rows appear without a partner (right side of a left join, both sides of an outer
 * join). Without a partner where one is needed, nothing is forwarded; a row that disappears forwards null (a
 * tombstone). The Kafka Streams docs' table-table join semantics table is the specification
 * (tests/topology/ktable-join.test.ts reproduces it).
 */
export function tableJoinSideProcessor<K, T, O, VR>(opts: {
  name: string;
  other: TableGetter<K, O>;
  /** The joiner with this side's value first. */
  joiner: (self: T | null, other: O | null) => VR;
  thisOuter: boolean;
  otherOuter: boolean;
  policy: ErrorPolicy;
}): Processor & { sendOldValues: boolean } {
  const { name, policy, thisOuter, otherOuter } = opts;
  const p = {
    /** Compute and forward the old joined row (Kafka Streams' `sendOldValues`); else it is left null. */
    sendOldValues: false,
    process(records: readonly Flowing[], ctx: ProcessorContext) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, Change<T>>[]) {
        const res = guarded(ctx, name, r, policy, () => {
          const other = opts.other(ctx, r.key);
          const { newValue, oldValue } = r.value;
          if (other === undefined && (!thisOuter || (newValue === null && oldValue === null))) return SKIP;
          const o = other === undefined ? null : other.value;
          // A side's row stands alone when the join keeps rows of that side without a partner.
          const joined = (self: T | null): VR | null => {
            if (self !== null && (o !== null || thisOuter)) return opts.joiner(self, o);
            if (self === null && o !== null && otherOuter) return opts.joiner(null, o);
            return null;
          };
          const change: Change<VR> = {
            newValue: joined(newValue),
            oldValue: p.sendOldValues ? joined(oldValue) : null,
          };
          const ts = other === undefined ? r.timestamp : Math.max(r.timestamp, other.timestampMs);
          return { change, ts };
        });
        if (res === FAILED || res === SKIP) continue;
        out.push(derive(r, r.key, res.change, res.ts));
      }
      return out;
    },
  };
  return p;
}

const SKIP: unique symbol = Symbol('eddy.join.skip');

/**
 * The getter of a joined table (Kafka Streams `KTableKTableJoinValueGetter`): both sides' current values, joined as
 * the join kind keeps rows; timestamp max(left, right).
 */
export function tableJoinGetter<K, L, R, VR>(
  left: TableGetter<K, L>,
  right: TableGetter<K, R>,
  kind: TableJoinKind,
  joiner: TableJoiner<L, R, VR>,
): TableGetter<K, VR> {
  return (ctx, key) => {
    const l = left(ctx, key);
    if (l === undefined && kind !== 'outer') return undefined;
    const r = right(ctx, key);
    if (r === undefined && (kind === 'inner' || l === undefined)) return undefined;
    const value = joiner(l?.value ?? null, r?.value ?? null);
    return { value, timestampMs: Math.max(tsOf(l), tsOf(r)) };
  };
}

function tsOf(v: ValueAndTimestamp<unknown> | undefined): number {
  return v === undefined ? NO_TIMESTAMP : v.timestampMs;
}
