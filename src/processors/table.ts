import type { KeyValueStore, ValueAndTimestamp } from '../state/stores.js';
import {
  derive,
  type ErrorPolicy,
  FAILED,
  type Flowing,
  guarded,
  type Processor,
  type ProcessorContext,
} from './context.js';

/**
 * What flows between table nodes (Kafka Streams' `Change`): the key's value after the update (`newValue`, null = the
 * key was deleted: a tombstone) and before it (`oldValue`, null = the key did not exist). Carrying the old value lets
 * a `groupBy` re-aggregation retract it from its old group (KGroupedTable's subtractor) and a `filter` send a
 * tombstone for a key that passed before. Both null is a tombstone for a key that did not exist: forwarded, as Kafka
 * Streams does, and dropped by the operators that have nothing to say about it (joins, filter).
 */
export interface Change<V> {
  readonly newValue: V | null;
  readonly oldValue: V | null;
}

export type { ValueAndTimestamp };

/**
 * Reads a table's current value of a key inside a task (Kafka Streams' `KTableValueGetter`): a table read from a
 * topic or made by an aggregation reads its store; a filtered, mapped or joined table computes its value from its
 * parents' getters on demand, so it needs no store of its own. Undefined when the key has no value.
 */
export type TableGetter<K, V> = (ctx: ProcessorContext, key: K) => ValueAndTimestamp<V> | undefined;

/**
 * A deep copy of a stored value (objects, arrays, Buffers; other values as they are), so that an old value survives an
 * aggregator that mutates the stored object in place. Unlike `structuredClone`, Buffers stay Buffers (Avro `bytes`).
 */
export function copyValue<V>(value: V): V {
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value)) return Buffer.from(value) as V;
  if (Array.isArray(value)) return value.map(copyValue) as V;
  if (value instanceof Map || value instanceof Set || value instanceof Date) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = copyValue(v);
  return out as V;
}

/**
 * The getter of a key-value store holding a table: the value with the timestamp stored beside it (`NO_TIMESTAMP`,
 * -1, for a row written before stores kept timestamps: below every record's, so max() ignores it).
 */
export function storeGetter<K, V>(store: string): TableGetter<K, V> {
  return (ctx, key) => ctx.kvStore<K, V>(store).getWithTimestamp(key);
}

/**
 * Writes a table's new value with its timestamp (ms; the changelog record carries it, so a restored table has it
 * too); null deletes the key (the changelog gets a tombstone).
 */
export function putOrDelete<K, V>(kv: KeyValueStore<K, V>, key: K, value: V | null, timestampMs: number): void {
  if (value === null) kv.delete(key, timestampMs);
  else kv.put(key, value, timestampMs);
}

/**
 * The table read from a topic (Kafka Streams `KTableSource`, materialized in `store`): each record upserts its key
 * (a null value deletes it) and forwards `Change(new, old)` with the record's timestamp. A record with a null key
 * cannot be a table row: dropped and counted (`ctx.metrics.dropped`), as Kafka Streams skips it.
 */
export function tableSourceProcessor(name: string, store: string): Processor {
  return {
    process(records, ctx) {
      const kv = ctx.kvStore<unknown, unknown>(store);
      const out: Flowing[] = [];
      for (const r of records) {
        if (r.key === null || r.key === undefined) {
          ctx.metrics.dropped(name);
          continue;
        }
        const oldValue = kv.get(r.key) ?? null;
        const newValue = (r.value ?? null) as unknown;
        putOrDelete(kv, r.key, newValue, r.timestamp);
        out.push(derive<unknown, Change<unknown>>(r, r.key, { newValue, oldValue }));
      }
      return out;
    },
  };
}

/**
 * `Table.filter` (Kafka Streams `KTableFilter`, with old values): a new value that fails `pred` becomes null, and so
 * does an old value that failed it; a change from nothing to nothing is not forwarded, so a key that is filtered out
 * forwards a tombstone only when it passed before.
 */
export function tableFilterProcessor<K, V>(
  name: string,
  pred: (value: V, key: K) => boolean,
  policy: ErrorPolicy,
): Processor & { sendOldValues: boolean } {
  const p = {
    /** Forward the old value (Kafka Streams' `sendOldValues`); else the old value is left null. */
    sendOldValues: false,
    process(records: readonly Flowing[], ctx: ProcessorContext) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, Change<V>>[]) {
        const res = guarded(ctx, name, r, policy, () => {
          const { newValue, oldValue } = r.value;
          return {
            newValue: newValue !== null && pred(newValue, r.key) ? newValue : null,
            oldValue: oldValue !== null && pred(oldValue, r.key) ? oldValue : null,
          };
        });
        if (res === FAILED) continue;
        if (res.newValue === null && res.oldValue === null) {
          ctx.metrics.dropped(name);
          continue;
        }
        out.push(derive(r, r.key, p.sendOldValues ? res : { newValue: res.newValue, oldValue: null }));
      }
      return out;
    },
  };
  return p;
}

/** `Table.mapValues` (Kafka Streams `KTableMapValues`): maps the new and the old value; null stays null. */
export function tableMapValuesProcessor<K, V, V2>(
  name: string,
  fn: (value: V, key: K) => V2,
  policy: ErrorPolicy,
): Processor & { sendOldValues: boolean } {
  const p = {
    /** Map and forward the old value too (Kafka Streams' `sendOldValues`); else it is left null. */
    sendOldValues: false,
    process(records: readonly Flowing[], ctx: ProcessorContext) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, Change<V>>[]) {
        const res = guarded(ctx, name, r, policy, () => ({
          newValue: r.value.newValue === null ? null : fn(r.value.newValue, r.key),
          oldValue: r.value.oldValue === null || !p.sendOldValues ? null : fn(r.value.oldValue, r.key),
        }));
        if (res !== FAILED) out.push(derive(r, r.key, res));
      }
      return out;
    },
  };
  return p;
}

/**
 * `Table.toStream` (Kafka Streams `KTable#toStream`): each change becomes a record of the new value, keeping key and
 * timestamp; a deleted key becomes a record with a null value (written to a topic, a tombstone).
 */
export function toStreamProcessor(): Processor {
  return {
    process(records) {
      return (records as Flowing<unknown, Change<unknown>>[]).map((r) => derive(r, r.key, r.value.newValue));
    },
  };
}
