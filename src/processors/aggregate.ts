import { NO_TIMESTAMP } from '../state/sqlite.js';
import {
  derive,
  type ErrorPolicy,
  FAILED,
  type Flowing,
  guarded,
  needsKey,
  type Processor,
  type Rec,
} from './context.js';

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
 * An update's timestamp is the largest timestamp of the key's records so far, kept in the store beside the aggregate
 * (Kafka Streams' `KStreamAggregate` and its timestamp propagation: "the maximum timestamp of all input records
 * contributing to the result"). A record with a null key is dropped (counted, dead-lettered: `needsKey`).
 */
export function aggregateProcessor<K, V, A>(
  name: string,
  store: string,
  fns: AggregateFns<K, V, A>,
  policy: ErrorPolicy,
): Processor {
  return {
    process(records, ctx) {
      const kv = ctx.kvStore<K, A>(store);
      // Keyed like the write cache (by the store's key identity), so that structured keys (a new object per record,
      // in any property order) coalesce as they do in the store.
      const updated = new Map<string, Flowing>();
      for (const r of records as Flowing<K, V>[]) {
        if (!needsKey(ctx, name, r)) continue;
        const res = guarded(ctx, name, r, policy, () => {
          const old = kv.getWithTimestamp(r.key);
          const agg = fns.aggregator(old?.value ?? fns.initializer(), r.value, r);
          const timestampMs = maxTimestamp(old?.timestampMs, r.timestamp);
          kv.put(r.key, agg, timestampMs);
          return { agg, timestampMs };
        });
        if (res === FAILED) continue;
        const id = kv.identity(r.key);
        updated.delete(id);
        updated.set(id, derive(r, r.key, res.agg, res.timestampMs));
      }
      return [...updated.values()];
    },
  };
}

/**
 * The timestamp of an aggregate after folding in a record at `recordMs`: the larger of the two, or `recordMs` when
 * the aggregate is new or its timestamp unknown (`NO_TIMESTAMP`, a row from a store file older than timestamps).
 */
export function maxTimestamp(aggregateMs: number | undefined, recordMs: number): number {
  return aggregateMs === undefined || aggregateMs === NO_TIMESTAMP ? recordMs : Math.max(aggregateMs, recordMs);
}
