/**
 * What a trace needs to replay, and no more: the processors whose records can reach the traced store's writer (its
 * ancestors across repartition topics, closed under shared state stores), and at each repartition sink that feeds the
 * traced task, a filter that drops, before anything is serialized, the records that could not reach the traced key.
 *
 * Why this is exact (a trace gives what a replay of the whole topology gives):
 * - A processor's output depends only on its input records, its stores and global tables. The writer's ancestors
 *   make every record it sees; any processor sharing a store with a kept one is kept too (with its ancestors), so
 *   every store a kept processor reads holds what it would in a full replay. Stream times are per processor.
 * - A repartition record goes to the partition of its serialized key (`partitionFor`, as `RecordWriter.send` does);
 *   only the traced task's partition is run, so the others were dropped on arrival anyway.
 * - With the key filter, records whose serialized key differs from the traced key's are dropped too. That is exact
 *   only when (a) the writer is a key-value aggregation (a key's aggregate depends on no other key; the instrumented
 *   writer skips them) reached from the repartition source through key-preserving, stateless processors, and
 *   (b) the key's Avro encoding is canonical (no float, double or map anywhere: equal values <=> equal bytes) and the
 *   store keys with the same schema. Otherwise (a window store: other keys move stream time) only the partition
 *   filter applies.
 */
import { partitionFor } from '../log/partitioner.js';
import type { Flowing, Processor } from '../processors/context.js';
import { identityOf, parseSchema } from '../schema/avro.js';
import type { AvroSchema } from '../schema/types.js';
import type { Serde } from '../state/stores.js';
import type { GraphNode, Subtopology, Topology } from '../topology/graph.js';

/** Node kinds that keep the key and need no state: a record's fate in them depends on that record alone. */
const KEY_PRESERVING = new Set(['filter', 'validate', 'peek', 'mapValues', 'join']);

/** A UTF-16 surrogate: a string with none is well-formed, so its UTF-8 bytes identify it. */
const SURROGATE = /[\uD800-\uDFFF]/;

/** A processor that forwards nothing: what a processor the trace does not need becomes. */
const NOTHING: Processor = { process: () => [] };

/**
 * The ids of the nodes whose records can reach `writer`: its ancestors, across repartition topics (a repartition
 * source's parents are the sinks writing its topic), and every node using a state store a kept node uses.
 */
export function relevantNodes(t: Topology, writer: GraphNode): Set<number> {
  const keep = new Set<number>();
  const todo: number[] = [];
  const add = (id: number) => {
    if (keep.has(id)) return;
    keep.add(id);
    todo.push(id);
  };
  add(writer.id);
  while (todo.length > 0) {
    const n = t.nodes[todo.pop()!];
    for (const p of n.parents) add(p);
    if (n.kind === 'source' && t.topics.get(n.topic!)?.role === 'repartition')
      for (const m of t.nodes) if (m.kind === 'sink' && m.topic === n.topic) add(m.id);
    for (const s of n.stores) if (t.stores.has(s)) for (const m of t.nodes) if (m.stores.includes(s)) add(m.id);
  }
  return keep;
}

/** What `narrowTopology` needs. */
export interface NarrowOptions {
  /** The writer of the traced store, and its instrumented processor. */
  readonly writer: GraphNode;
  readonly instrumented: Processor;
  /** The traced task's sub-topology and partition. */
  readonly subtopology: Subtopology;
  readonly partition: number;
  readonly partitions: ReadonlyMap<string, number>;
  /** Key serde of a repartition topic (what its sink serializes with). */
  readonly keySerde: (topic: string) => Serde<unknown>;
  /** The traced key. */
  readonly key: unknown;
}

/** A topology narrowed to a trace, with what was narrowed. */
export interface NarrowedTopology {
  readonly topology: Topology;
  readonly relevant: ReadonlySet<number>;
  /** Repartition topics whose sinks keep only the traced key's records (else only its partition's). */
  readonly keyFiltered: readonly string[];
  /** Counters of the sink filters: records seen and kept. */
  readonly filtered: { seen: number; kept: number };
}

/**
 * The topology with the processors a trace does not need forwarding nothing, the writer instrumented, and the sinks of
 * the repartition topics the traced sub-topology reads filtered (see the module doc).
 */
export function narrowTopology(t: Topology, o: NarrowOptions): NarrowedTopology {
  const relevant = relevantNodes(t, o.writer);
  const filtered = { seen: 0, kept: 0 };
  const keyFiltered: string[] = [];
  const filters = new Map<number, Processor>();
  for (const id of o.subtopology.nodes) {
    const src = t.nodes[id];
    if (src.kind !== 'source' || !relevant.has(id) || t.topics.get(src.topic!)?.role !== 'repartition') continue;
    const topic = src.topic!;
    const serde = o.keySerde(topic);
    const keyBytes = keyFilterAllowed(t, o.writer, src, relevant) ? trySerialize(serde, o.key) : undefined;
    if (keyBytes !== undefined) keyFiltered.push(topic);
    for (const m of t.nodes)
      if (m.kind === 'sink' && m.topic === topic && relevant.has(m.id))
        filters.set(
          m.id,
          sinkFilter(
            m.processor!,
            serde,
            o.partitions.get(topic) ?? 1,
            o.partition,
            keyBytes,
            filtered,
            o.key,
            t.topics.get(topic)?.keySchema,
          ),
        );
  }
  const nodes = t.nodes.map((n): GraphNode => {
    if (n.id === o.writer.id) return { ...n, processor: o.instrumented };
    if (!relevant.has(n.id)) return n.processor === undefined ? n : { ...n, processor: NOTHING };
    const f = filters.get(n.id);
    return f === undefined ? n : { ...n, processor: f };
  });
  return { topology: { ...t, nodes }, relevant, keyFiltered, filtered };
}

/**
 * Keeps the records a repartition sink would send to `partition` (or, given `keyBytes`, only those whose serialized
 * key equals it), deciding on the key alone: values of dropped records are never serialized. A key that does not
 * serialize is passed on, so the sink fails on it as in a full replay.
 */
function sinkFilter(
  sink: Processor,
  serde: Serde<unknown>,
  partitions: number,
  partition: number,
  keyBytes: Buffer | undefined,
  counts: { seen: number; kept: number },
  key: unknown,
  keySchema: AvroSchema | undefined,
): Processor {
  const stringKey =
    typeof key === 'string' &&
    (keySchema === 'string' ||
      (typeof keySchema === 'object' &&
        keySchema !== null &&
        (keySchema as { type?: unknown }).type === 'string' &&
        Object.keys(keySchema).length === 1));
  const keyWellFormed = stringKey && !SURROGATE.test(key as string);
  return {
    process(records, ctx) {
      const kept: Flowing[] = [];
      for (const r of records) {
        if (keyBytes !== undefined && stringKey && typeof r.key === 'string') {
          // A "string" key encodes as its UTF-8 bytes: strings without surrogates are equal exactly when their bytes are.
          if (r.key === key) kept.push(r);
          if (r.key === key || (keyWellFormed && !SURROGATE.test(r.key))) continue;
        }
        let bytes: Buffer;
        try {
          bytes = serde.serialize(r.key);
        } catch {
          kept.push(r);
          continue;
        }
        if (keyBytes !== undefined ? bytes.equals(keyBytes) : partitionFor(bytes, partitions) === partition)
          kept.push(r);
      }
      counts.seen += records.length;
      counts.kept += kept.length;
      return kept.length === 0 ? [] : sink.process(kept, ctx);
    },
  };
}

/**
 * True when dropping every record of another key at the sink of `source`'s topic leaves the writer's trace unchanged:
 * a key-value aggregation reached from `source` through key-preserving stateless processors only, over a key whose
 * encoding is canonical, stored under the repartition topic's key schema.
 */
function keyFilterAllowed(t: Topology, writer: GraphNode, source: GraphNode, relevant: ReadonlySet<number>): boolean {
  if (writer.kind !== 'aggregate') return false;
  const topicKey = t.topics.get(source.topic!)?.keySchema;
  const store = t.stores.get(writer.stores.find((s) => t.stores.has(s)) ?? '');
  if (topicKey === undefined || store === undefined || !canonicalEncoding(topicKey)) return false;
  if (identityOf(parseSchema(topicKey)) !== identityOf(parseSchema(store.keySchema))) return false;
  // Every path from the writer back to `source` runs through key-preserving, stateless nodes.
  const todo = [...writer.parents];
  const seen = new Set<number>();
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (seen.has(id) || !relevant.has(id)) continue;
    seen.add(id);
    const n = t.nodes[id];
    if (n.kind === 'source') {
      if (id !== source.id) continue;
    } else if (!KEY_PRESERVING.has(n.kind) || n.stores.some((s) => t.stores.has(s))) return false;
    todo.push(...n.parents);
  }
  return seen.has(source.id);
}

/** True when equal values of the schema always encode to equal bytes and back (no float, double or map inside). */
export function canonicalEncoding(schema: AvroSchema): boolean {
  const seen = new Set<unknown>();
  const ok = (s: unknown): boolean => {
    if (typeof s === 'string') return s !== 'float' && s !== 'double' && s !== 'map';
    if (Array.isArray(s)) return s.every(ok);
    if (s === null || typeof s !== 'object' || seen.has(s)) return true;
    seen.add(s);
    const o = s as { type?: unknown; items?: unknown; values?: unknown; fields?: { type: unknown }[] };
    if (o.type === 'map' || o.values !== undefined) return false;
    if (!ok(o.type)) return false;
    if (o.items !== undefined && !ok(o.items)) return false;
    return (o.fields ?? []).every((f) => ok(f.type));
  };
  return ok(schema);
}

function trySerialize(serde: Serde<unknown>, key: unknown): Buffer | undefined {
  try {
    return serde.serialize(key);
  } catch {
    return undefined;
  }
}
