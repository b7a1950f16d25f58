import type { AvroSchema } from '../schema/types.js';
import {
  derive,
  type ErrorPolicy,
  FAILED,
  type Flowing,
  guarded,
  type Processor,
  type ProcessorContext,
} from './context.js';
import type { KeyValue } from './stateless.js';
import { type Change, copyValue, putOrDelete } from './table.js';

/**
 * The functions of a table re-aggregation (Kafka Streams `KGroupedTable#aggregate`): `adder` folds a value that
 * entered the group, `subtractor` removes one that left it (the key's old value, after an update or a delete).
 */
export interface TableAggregateFns<K, V, A> {
  /** The aggregate of a group never seen before. */
  initializer: () => A;
  /** Folds a value that entered group `key` into its aggregate. */
  adder: (key: K, value: V, aggregate: A) => A;
  /** Removes a value that left group `key` from its aggregate. */
  subtractor: (key: K, value: V, aggregate: A) => A;
}

/**
 * The Avro schema of the records of a table's `groupBy` repartition topic: `{ newValue, oldValue }`, each the
 * user's value schema or null. Named `TableChange_<name>` (no namespace, so that a named user type keeps its own
 * full name); the value schema's named types are defined in `newValue` and referenced by full name in `oldValue`.
 */
export function changeSchema(name: string, value: AvroSchema): AvroSchema {
  return {
    type: 'record',
    name: `TableChange_${name.replace(/[^A-Za-z0-9_]/g, '_')}`,
    fields: [
      { name: 'newValue', type: nullable(value), default: null },
      { name: 'oldValue', type: nullable(schemaRef(value)), default: null },
    ],
  } as AvroSchema;
}

/** `schema` or null, as an Avro union (a union gets `null` added first, since unions cannot nest). */
export function nullable(schema: AvroSchema): AvroSchema {
  if (!Array.isArray(schema)) return ['null', schema] as AvroSchema;
  return (schema.includes('null') ? schema : ['null', ...schema]) as AvroSchema;
}

/**
 * `schema` with every named type (record, enum, fixed) replaced by its full name: for a second field of the same
 * type in one schema (Avro defines a name once).
 */
export function schemaRef(schema: AvroSchema, namespace?: string): AvroSchema {
  if (Array.isArray(schema)) return schema.map((s) => schemaRef(s as AvroSchema, namespace)) as AvroSchema;
  if (typeof schema !== 'object' || schema === null) return schema;
  const o = schema as { type?: unknown; name?: string; namespace?: string; items?: unknown; values?: unknown };
  if (typeof o.name === 'string' && (o.type === 'record' || o.type === 'enum' || o.type === 'fixed')) {
    const ns = o.namespace ?? namespace;
    return o.name.includes('.') || ns === undefined || ns === '' ? o.name : `${ns}.${o.name}`;
  }
  if (o.type === 'array') return { ...o, items: schemaRef(o.items as AvroSchema, namespace) } as AvroSchema;
  if (o.type === 'map') return { ...o, values: schemaRef(o.values as AvroSchema, namespace) } as AvroSchema;
  return schema;
}

/**
 * A table's `groupBy` before its repartition topic (Kafka Streams `KTableRepartitionMap`, 3.9): `selector` maps the
 * new and the old row to (group key, value). When both land in one group, one record `Change(new, old)` goes to
 * that group (its subtractor runs before its adder); otherwise `Change(null, old)` goes to the old group first, then
 * `Change(new, null)` to the new one. A row whose selected key or value is null is left out (counted as dropped).
 */
export function tableGroupByProcessor<K, V, K2, V2>(
  name: string,
  selector: (key: K, value: V) => KeyValue<K2, V2>,
  policy: ErrorPolicy,
): Processor {
  const select = (key: K, v: V | null) => {
    if (v === null) return undefined;
    const kv = selector(key, v);
    return kv.key === null || kv.key === undefined || kv.value === null || kv.value === undefined ? undefined : kv;
  };
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, Change<V>>[]) {
        const res = guarded(ctx, name, r, policy, () => ({
          now: select(r.key, r.value.newValue),
          before: select(r.key, r.value.oldValue),
        }));
        if (res === FAILED) continue;
        const { now, before } = res;
        if (now === undefined && before === undefined) {
          ctx.metrics.dropped(name);
          continue;
        }
        if (now !== undefined && before !== undefined && sameKey(now.key, before.key)) {
          out.push(derive<K2, Change<V2>>(r, now.key, { newValue: now.value, oldValue: before.value }));
          continue;
        }
        if (before !== undefined)
          out.push(derive<K2, Change<V2>>(r, before.key, { newValue: null, oldValue: before.value }));
        if (now !== undefined) out.push(derive<K2, Change<V2>>(r, now.key, { newValue: now.value, oldValue: null }));
      }
      return out;
    },
  };
}

/**
 * A table re-aggregation after the repartition topic (Kafka Streams `KTableAggregate`, materialized in `store`):
 * per record, the old value is subtracted from the group's aggregate (when both exist), then the new value added
 * (starting from `initializer` for a new group; the stored aggregate is copied first, so adder and subtractor may
 * mutate it); the aggregate is stored with timestamp max(its records') and `Change(newAggregate, oldAggregate)`
 * forwarded with that timestamp. Every change is forwarded (no coalescing), so outputs do not depend on the batch size.
 */
export function tableAggregateProcessor<K, V, A>(
  name: string,
  store: string,
  fns: TableAggregateFns<K, V, A>,
  policy: ErrorPolicy,
): Processor & { sendOldValues: boolean } {
  const p = {
    /** Forward the old aggregate (Kafka Streams' `sendOldValues`): a copy, since adder and subtractor may mutate it. */
    sendOldValues: false,
    process(records: readonly Flowing[], ctx: ProcessorContext) {
      const kv = ctx.kvStore<K, A>(store);
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, Change<V>>[]) {
        const res = guarded(ctx, name, r, policy, () => {
          const stored = kv.getWithTimestamp(r.key);
          const oldAgg: A | null = stored?.value ?? null;
          let agg: A | null = oldAgg === null || !p.sendOldValues ? oldAgg : copyValue(oldAgg);
          if (r.value.oldValue !== null && agg !== null) agg = fns.subtractor(r.key, r.value.oldValue, agg);
          if (r.value.newValue !== null) agg = fns.adder(r.key, r.value.newValue, agg ?? fns.initializer());
          // The aggregate's timestamp: the largest of its records' (Kafka Streams' KTableAggregate).
          const ts = stored === undefined ? r.timestamp : Math.max(r.timestamp, stored.timestampMs);
          putOrDelete(kv, r.key, agg, ts);
          return { change: { newValue: agg, oldValue: p.sendOldValues ? oldAgg : null }, ts };
        });
        if (res !== FAILED) out.push(derive<K, Change<A>>(r, r.key, res.change, res.ts));
      }
      return out;
    },
  };
  return p;
}

/**
 * `KGroupedTable#reduce` as an aggregation (Kafka Streams `KTableReduce`): a group's first value is its aggregate;
 * later values are added with `adder`, values that leave are removed with `subtractor`.
 */
export function reduceFns<K, V>(adder: (agg: V, value: V) => V, subtractor: (agg: V, value: V) => V) {
  const NONE = null as unknown as V;
  return {
    initializer: () => NONE,
    adder: (_k: K, v: V, agg: V) => (agg === NONE ? v : adder(agg, v)),
    subtractor: (_k: K, v: V, agg: V) => subtractor(agg, v),
  } satisfies TableAggregateFns<K, V, V>;
}

/** Key equality for group keys (Kafka Streams compares with `equals`): equal primitives, or equal plain data. */
export function sameKey(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameKey((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
