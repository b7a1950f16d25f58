import { NO_TIMESTAMP } from '../state/sqlite.js';
import {
  derive,
  type ErrorPolicy,
  FAILED,
  type Flowing,
  guarded,
  needsKey,
  type Processor,
  type ProcessorContext,
  type Rec,
} from './context.js';
import { type Change, copyValue } from './table.js';

/** The functions of an aggregation (Kafka Streams `Initializer` and `Aggregator`). */
export interface AggregateFns<K, V, A> {
  /** The aggregate of a key never seen before. */
  initializer: () => A;
  /** Folds one record into the aggregate; may return the same (mutated) object or a new one. */
  aggregator: (aggregate: A, value: V, r: Rec<K, V>) => A;
}

/**
 * Key-value aggregation into the store `store` (Kafka Streams `KGroupedStream#aggregate`, materialized).
 * Forwards, per batch, the latest aggregate of each key updated in the batch (emit on commit, as with Kafka
 * Streams' record cache), in last-updated order: a key updated again moves behind the keys updated since, as
 * Kafka Streams' cache orders its dirty keys, so the forwarded records are in the order of their source offsets.
 * Each forwarded record is a table change (`Change`): the new aggregate and the one before the batch (null for a new
 * key), so the result is a table like any other (`Table.toStream` gives the new aggregates).
 * An update's timestamp is the largest timestamp of the key's records so far, kept in the store beside the aggregate
 * (Kafka Streams' `KStreamAggregate` and its timestamp propagation: "the maximum timestamp of all input records
 * contributing to the result"). A record with a null key is dropped (counted, dead-lettered: `needsKey`).
 */
export function aggregateProcessor<K, V, A>(
  name: string,
  store: string,
  fns: AggregateFns<K, V, A>,
  policy: ErrorPolicy,
): Processor & { sendOldValues: boolean } {
  const p = {
    /**
     * Forward the aggregate before the batch as the old value (Kafka Streams' `sendOldValues`, set when a table
     * operator downstream needs it): a copy, since the aggregator may mutate the stored aggregate in place.
     */
    sendOldValues: false,
    process(records: readonly Flowing[], ctx: ProcessorContext) {
      const kv = ctx.kvStore<K, A>(store);
      // Keyed like the write cache (by the store's key identity), so that structured keys (a new object per record,
      // in any property order) coalesce as they do in the store.
      const updated = new Map<string, Flowing>();
      // Per key, its aggregate before the batch (read before the first put): the old value of the forwarded change.
      const before = new Map<string, A | null>();
      for (const r of records as Flowing<K, V>[]) {
        if (!needsKey(ctx, name, r)) continue;
        const id = kv.identity(r.key);
        const res = guarded(ctx, name, r, policy, () => {
          const old = kv.getWithTimestamp(r.key);
          // A copy: the aggregator may mutate the stored aggregate in place.
          if (p.sendOldValues && !before.has(id)) before.set(id, old === undefined ? null : copyValue(old.value));
          const agg = fns.aggregator(old?.value ?? fns.initializer(), r.value, r);
          const timestampMs = maxTimestamp(old?.timestampMs, r.timestamp);
          kv.put(r.key, agg, timestampMs);
          return { agg, timestampMs };
        });
        if (res === FAILED) continue;
        updated.delete(id);
        updated.set(
          id,
          derive<K, Change<A>>(r, r.key, { newValue: res.agg, oldValue: before.get(id) ?? null }, res.timestampMs),
        );
      }
      return [...updated.values()];
    },
  };
  return p;
}

/**
 * The timestamp of an aggregate after folding in a record at `recordMs`: the larger of the two, or `recordMs` when
 * the aggregate is new or its timestamp unknown (`NO_TIMESTAMP`, a row from a store file older than timestamps).
 */
export function maxTimestamp(aggregateMs: number | undefined, recordMs: number): number {
  return aggregateMs === undefined || aggregateMs === NO_TIMESTAMP ? recordMs : Math.max(aggregateMs, recordMs);
}
