/**
 * Foreign-key table–table join (KIP-213, Kafka Streams `KTable#join(KTable, Function, ValueJoiner)`): the left table
 * subscribes each row to the right table's key it names (its foreign key) through a subscription topic keyed by that
 * key; the right side keeps the subscribers per key and answers through a response topic keyed by the left key, on a
 * subscription and on each update of the right row; the left side drops a response whose hash of the left value is
 * not the current row's (the row changed since: a stale response) and emits the joined row.
 */
import { createHash } from 'node:crypto';
import type { AvroSchema } from '../schema/types.js';
import { derive, type ErrorPolicy, FAILED, type Flowing, guarded, type Processor } from './context.js';
import type { Change, TableGetter } from './table.js';
import { nullable, sameKey } from './table-aggregate.js';

/** What a subscription asks of the right side (Kafka Streams' `SubscriptionWrapper.Instruction`). */
export type FkInstruction =
  | 'delete-and-propagate'
  | 'delete-no-propagate'
  | 'propagate-null-if-missing'
  | 'propagate-only-if-present';

/** A subscription record (keyed by the foreign key): the left key, the left value's hash, the instruction. */
export interface FkSubscription<K> {
  readonly key: K;
  readonly hash: string | null;
  readonly instruction: FkInstruction;
}

/** A response record (keyed by the left key): the hash it answers and the right value (null = none). */
export interface FkResponse<R> {
  readonly hash: string | null;
  readonly value: R | null;
}

/** The subscribers of one foreign key (the subscription store's value). */
export interface FkSubscribers<K> {
  readonly subscribers: { key: K; hash: string | null }[];
}

/** A stable hash of a left value (canonical JSON, sorted keys; SHA-256, base64): equal values, equal hashes. */
export function valueHash(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return createHash('sha256').update(canonical(value)).digest('base64');
}

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Buffer.isBuffer(v)) return `b:${v.toString('base64')}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}

/** Avro schemas of the subscription topic, the response topic and the subscription store, from the user's. */
export function fkSchemas(name: string, key: AvroSchema, otherValue: AvroSchema) {
  const id = name.replace(/[^A-Za-z0-9_]/g, '_');
  const hash = { name: 'hash', type: ['null', 'string'], default: null };
  return {
    subscription: {
      type: 'record',
      name: `FkSubscription_${id}`,
      fields: [{ name: 'key', type: key }, hash, { name: 'instruction', type: 'string' }],
    } as AvroSchema,
    response: {
      type: 'record',
      name: `FkResponse_${id}`,
      fields: [hash, { name: 'value', type: nullable(otherValue), default: null }],
    } as AvroSchema,
    subscribers: {
      type: 'record',
      name: `FkSubscribers_${id}`,
      fields: [
        {
          name: 'subscribers',
          type: {
            type: 'array',
            items: { type: 'record', name: `FkSubscriber_${id}`, fields: [{ name: 'key', type: key }, hash] },
          },
        },
      ],
    } as AvroSchema,
  };
}

/**
 * The left side's subscriptions (Kafka Streams `SubscriptionSendProcessorSupplier`, 3.9): for each change of a left
 * row, an unsubscription from its old foreign key when the key changed (`delete-and-propagate` for an inner join,
 * whose old result must disappear; `delete-no-propagate` for a left join, whose new result replaces it) and a
 * subscription to its new foreign key, sent to `topic`, each carrying the hash of the new left value. A left join
 * emits at once (the records returned) what needs no right value: the row with a null right value when its foreign
 * key is null, a tombstone when the row was deleted.
 */
export function fkSubscribeProcessor<K, L, KO, VR>(opts: {
  name: string;
  topic: string;
  foreignKey: (value: L) => KO | null | undefined;
  joiner: (left: L, right: null) => VR;
  leftJoin: boolean;
  policy: ErrorPolicy;
}): Processor {
  const { name, policy, leftJoin } = opts;
  const fkOf = (v: L | null): KO | null => (v === null ? null : (opts.foreignKey(v) ?? null));
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, Change<L>>[]) {
        const res = guarded(ctx, name, r, policy, () => {
          const { newValue, oldValue } = r.value;
          if (newValue === null && oldValue === null) return undefined;
          const hash = valueHash(newValue);
          const send = (fk: KO, instruction: FkInstruction) =>
            ctx.send(opts.topic, derive<KO, FkSubscription<K>>(r, fk, { key: r.key, hash, instruction }));
          const newFk = fkOf(newValue);
          const oldFk = fkOf(oldValue);
          if (oldFk !== null && (newFk === null || !sameKey(oldFk, newFk)))
            send(oldFk, leftJoin ? 'delete-no-propagate' : 'delete-and-propagate');
          if (newFk !== null) send(newFk, leftJoin ? 'propagate-null-if-missing' : 'propagate-only-if-present');
          else if (leftJoin && (newValue !== null || oldValue !== null))
            return { value: newValue === null ? null : opts.joiner(newValue, null) };
          return undefined;
        });
        if (res !== FAILED && res !== undefined)
          out.push(derive<K, Change<VR>>(r, r.key, { newValue: res.value, oldValue: null }));
      }
      return out;
    },
  };
}

/**
 * The right side's subscription store (Kafka Streams `SubscriptionReceiveProcessorSupplier` and
 * `SubscriptionJoinProcessorSupplier`): keeps or removes the subscriber, then answers on `topic` as its
 * instruction says, with the right table's current value of the foreign key.
 */
export function fkSubscriptionsProcessor<K, KO, R>(opts: {
  name: string;
  store: string;
  topic: string;
  right: TableGetter<KO, R>;
}): Processor {
  return {
    process(records, ctx) {
      const kv = ctx.kvStore<KO, FkSubscribers<K>>(opts.store);
      for (const r of records as Flowing<KO, FkSubscription<K>>[]) {
        const { key, hash, instruction } = r.value;
        const subscribers = (kv.get(r.key)?.subscribers ?? []).filter((s) => !sameKey(s.key, key));
        if (instruction.startsWith('propagate')) subscribers.push({ key, hash });
        if (subscribers.length === 0) kv.delete(r.key, r.timestamp);
        else kv.put(r.key, { subscribers }, r.timestamp);
        if (instruction === 'delete-no-propagate') continue;
        const right = instruction === 'delete-and-propagate' ? undefined : opts.right(ctx, r.key);
        if (right === undefined && instruction === 'propagate-only-if-present') continue;
        ctx.send(opts.topic, derive<K, FkResponse<R>>(r, key, { hash, value: right?.value ?? null }));
      }
      return [];
    },
  };
}

/**
 * The right table's updates (Kafka Streams `ForeignTableJoinProcessorSupplier`): each change of a right row is sent
 * to every left row subscribed to its key, on `topic`.
 */
export function fkRightUpdateProcessor<K, KO, R>(opts: { store: string; topic: string }): Processor {
  return {
    process(records, ctx) {
      const kv = ctx.kvStore<KO, FkSubscribers<K>>(opts.store);
      for (const r of records as Flowing<KO, Change<R>>[]) {
        if (r.value.newValue === null && r.value.oldValue === null) continue;
        for (const s of kv.get(r.key)?.subscribers ?? [])
          ctx.send(opts.topic, derive<K, FkResponse<R>>(r, s.key, { hash: s.hash, value: r.value.newValue }));
      }
      return [];
    },
  };
}

/**
 * The left side's responses (Kafka Streams `ResponseJoinProcessorSupplier`): a response whose hash is not the hash of
 * the left row's current value is stale and dropped (counted); otherwise the joined row, or a tombstone when there is
 * no right value in an inner join (or no left row), is emitted with the response's timestamp.
 */
export function fkResponseProcessor<K, L, R, VR>(opts: {
  name: string;
  left: TableGetter<K, L>;
  joiner: (left: L, right: R | null) => VR;
  leftJoin: boolean;
  policy: ErrorPolicy;
}): Processor {
  const { name, policy } = opts;
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, FkResponse<R>>[]) {
        const res = guarded(ctx, name, r, policy, () => {
          const current = opts.left(ctx, r.key)?.value ?? null;
          if (valueHash(current) !== r.value.hash) return STALE;
          if (current === null || (r.value.value === null && !opts.leftJoin)) return null;
          return opts.joiner(current, r.value.value);
        });
        if (res === FAILED) continue;
        if (res === STALE) {
          ctx.metrics.dropped(name);
          continue;
        }
        out.push(derive<K, Change<VR>>(r, r.key, { newValue: res as VR | null, oldValue: null }));
      }
      return out;
    },
  };
}

const STALE: unique symbol = Symbol('eddy.fk.stale');
