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

/** A key and value produced by a mapping function; `timestamp` defaults to the input record's. */
export interface KeyValue<K, V> {
  readonly key: K;
  readonly value: V;
  readonly timestamp?: number;
}

/** `map`: one record in, one record out, key and value may change. */
export function mapProcessor<K, V, K2, V2>(
  name: string,
  fn: (r: Rec<K, V>) => KeyValue<K2, V2>,
  policy: ErrorPolicy,
): Processor {
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        const kv = guarded(ctx, name, r, policy, () => fn(r));
        if (kv !== FAILED) out.push(derive(r, kv.key, kv.value, kv.timestamp ?? r.timestamp));
      }
      return out;
    },
  };
}

/** `mapValues`: the key stays (no repartition needed downstream). */
export function mapValuesProcessor<K, V, V2>(
  name: string,
  fn: (value: V, r: Rec<K, V>) => V2,
  policy: ErrorPolicy,
): Processor {
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        const v = guarded(ctx, name, r, policy, () => fn(r.value, r));
        if (v !== FAILED) out.push(derive(r, r.key, v));
      }
      return out;
    },
  };
}

/** `filter`: keeps records for which `pred` is true; the others are counted as dropped. */
export function filterProcessor<K, V>(
  name: string,
  pred: (value: V, r: Rec<K, V>) => boolean,
  policy: ErrorPolicy,
): Processor {
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        const keep = guarded(ctx, name, r, policy, () => pred(r.value, r));
        if (keep === true) out.push(r);
        else if (keep === false) ctx.metrics.dropped(name);
      }
      return out;
    },
  };
}

/** `flatMap`: zero or more records out per record in. */
export function flatMapProcessor<K, V, K2, V2>(
  name: string,
  fn: (r: Rec<K, V>) => Iterable<KeyValue<K2, V2>>,
  policy: ErrorPolicy,
): Processor {
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        const kvs = guarded(ctx, name, r, policy, () => [...fn(r)]);
        if (kvs === FAILED) continue;
        for (const kv of kvs) out.push(derive(r, kv.key, kv.value, kv.timestamp ?? r.timestamp));
      }
      return out;
    },
  };
}

/** `peek`: calls `fn` for each record (logging, metrics) and passes it on unchanged. */
export function peekProcessor<K, V>(name: string, fn: (r: Rec<K, V>) => void, policy: ErrorPolicy): Processor {
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[])
        if (guarded(ctx, name, r, policy, () => fn(r)) !== FAILED) out.push(r);
      return out;
    },
  };
}

/**
 * `validate`: `check` returns undefined for a valid record, or the reason it is invalid; invalid records go to the
 * dead-letter topic with that reason and their source offsets, valid ones pass on.
 */
export function validateProcessor<K, V>(
  name: string,
  check: (value: V, r: Rec<K, V>) => string | undefined,
  policy: ErrorPolicy,
): Processor {
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        const reason = guarded(ctx, name, r, policy, () => check(r.value, r));
        if (reason === FAILED) continue;
        if (reason === undefined) out.push(r);
        else ctx.deadLetter(r, name, reason);
      }
      return out;
    },
  };
}

/**
 * One arm of `branch`: keeps the records for which predicate `index` is the first that matches
 * (Kafka Streams `split()/branch()` semantics: each record goes to the first matching branch only).
 * `index === predicates.length` is the default branch (no predicate matched).
 *
 * Every arm evaluates the predicates; when one throws, only arm 0 applies the error policy (so a record is
 * dead-lettered once, or the task fails once), and the other arms skip the record.
 */
export function branchArmProcessor<K, V>(
  name: string,
  predicates: readonly ((value: V, r: Rec<K, V>) => boolean)[],
  index: number,
  policy: ErrorPolicy,
): Processor {
  return {
    process(records, ctx) {
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        const firstMatch = () => {
          for (let i = 0; i < predicates.length; i++) if (predicates[i](r.value, r)) return i;
          return predicates.length;
        };
        let first: number | typeof FAILED;
        if (index === 0) first = guarded(ctx, name, r, policy, firstMatch);
        else {
          try {
            first = firstMatch();
          } catch {
            first = FAILED; // arm 0 has applied the error policy to this record
          }
        }
        if (first === index) out.push(r);
      }
      return out;
    },
  };
}

/**
 * The sink into a repartition topic: sends every record with a key to `topic`; a record with a null key is dropped
 * (counted, dead-lettered: `needsKey`), as Kafka Streams' repartition drops it.
 */
export function repartitionSinkProcessor(name: string, topic: string): Processor {
  return {
    process(records, ctx: ProcessorContext) {
      for (const r of records) if (needsKey(ctx, name, r)) ctx.send(topic, r);
      return [];
    },
  };
}

/** A sink: sends every record to `topic` (an output, repartition or other topic) and forwards nothing. */
export function sinkProcessor(topic: string): Processor {
  return {
    process(records, ctx: ProcessorContext) {
      for (const r of records) ctx.send(topic, r);
      return [];
    },
  };
}
