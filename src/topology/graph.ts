import type { Processor } from '../processors/context.js';
import type { WindowSpec } from '../processors/window.js';
import type { AvroSchema } from '../schema/types.js';

/** Kinds of graph nodes; `describe` prints them. */
export type NodeKind =
  | 'source'
  | 'map'
  | 'mapValues'
  | 'filter'
  | 'flatMap'
  | 'peek'
  | 'validate'
  | 'branch'
  | 'join'
  | 'aggregate'
  | 'window-aggregate'
  | 'session-aggregate'
  | 'sliding-aggregate'
  | 'to-stream'
  | 'agent'
  | 'merge'
  | 'selectKey'
  | 'sink';

/** One processor node of the graph. Sources have no processor; sinks and repartition sinks name a topic. */
export interface GraphNode {
  readonly id: number;
  readonly name: string;
  readonly kind: NodeKind;
  readonly parents: number[];
  readonly children: number[];
  readonly processor?: Processor;
  /** Source and sink nodes: the topic they read or write. */
  readonly topic?: string;
  /** Names of the state stores and global tables this node uses. */
  readonly stores: readonly string[];
  /**
   * The operator's parameters that change its results (a join window, a session gap, an emit strategy...), as plain
   * JSON: they enter the version fingerprint (`node:<name>`), so changing one under the same version is refused.
   */
  readonly params?: Readonly<Record<string, string | number | boolean | null>>;
}

/** The role of a topic in a topology; decides how the runtime creates it. */
export type TopicRole = 'source' | 'output' | 'repartition' | 'changelog' | 'dlq' | 'global';

/** A topic the topology reads or writes, with its Avro key and value schemas. */
export interface TopicInfo {
  readonly name: string;
  readonly role: TopicRole;
  readonly keySchema?: AvroSchema;
  readonly valueSchema?: AvroSchema;
  readonly compacted: boolean;
  /** Fixed partition count; undefined = the partition count of the sub-topology's inputs. */
  readonly partitions?: number;
  /**
   * Sources only: where event time comes from when not the record's timestamp: `field:<name>` or `function` (the
   * fingerprint covers this description), with the extractor itself.
   */
  readonly eventTime?: {
    readonly description: string;
    readonly of: (r: { key: unknown; value: unknown; timestamp: number }) => number;
  };
}

/** A state store: a key-value or window store with its changelog topic. */
export interface StoreInfo {
  readonly name: string;
  readonly kind: 'kv' | 'window';
  readonly keySchema: AvroSchema;
  readonly valueSchema: AvroSchema;
  readonly changelog: string;
  readonly window?: WindowSpec;
  /**
   * Session and sliding window stores (`sessionWindows`, `slidingWindows` in src/topology/session.ts), whose windows
   * are not a fixed grid (`window` is then undefined): a session store is keyed by session start and its value
   * `{ endMs, aggregate }` holds the session's end; a sliding store's window [start, start + timeDifferenceMs] has
   * value `{ timestampMs, aggregate }`. Read window ends with `windowEndMs`.
   */
  readonly windows?: SessionWindowsSpec | SlidingWindowsSpec;
  /** Column name of the key in inspections (`eddy inspect`), e.g. `airport`; default `key`. */
  readonly keyName: string;
}

/**
 * Session windows (Kafka Streams `SessionWindows.ofInactivityGapAndGrace`): a session of a key spans its records'
 * timestamps, both ends inclusive; records within `gapMs` of a session join (and merge) it; grace as for time windows.
 */
export interface SessionWindowsSpec {
  readonly type: 'session';
  readonly gapMs: number;
  readonly graceMs: number;
}

/**
 * Sliding windows (KIP-450, Kafka Streams `SlidingWindows.ofTimeDifferenceAndGrace`): windows [start, start +
 * timeDifferenceMs], both ends inclusive, that exist where records are (each record's window ending at it and the one
 * starting just after it).
 */
export interface SlidingWindowsSpec {
  readonly type: 'sliding';
  readonly timeDifferenceMs: number;
  readonly graceMs: number;
}

/**
 * The end (ms) of the window of a window store row starting at `windowStartMs` with value `value`: a time window's
 * `start + sizeMs` (exclusive), a sliding window's `start + timeDifferenceMs` (inclusive), a session's `value.endMs`
 * (inclusive). Readers of stores (`eddy inspect`, `sql`, the test driver) use it.
 */
export function windowEndMs(info: StoreInfo, windowStartMs: number, value: unknown): number {
  const w = info.windows;
  if (w?.type === 'session') return Number((value as { endMs: number | bigint }).endMs);
  if (w?.type === 'sliding') return windowStartMs + w.timeDifferenceMs;
  return windowStartMs + (info.window?.sizeMs ?? 0);
}

/** A global table: a read-only key -> value view of a whole compacted topic, on every task. */
export interface GlobalTableInfo {
  readonly name: string;
  readonly topic: string;
  readonly keySchema: AvroSchema;
  readonly valueSchema: AvroSchema;
}

/**
 * A sub-topology (Kafka Streams' term): the part of the graph between source topics and sinks, with no
 * repartition topic inside. Each has one task per input partition.
 */
export interface Subtopology {
  readonly id: number;
  /** Topics read by the sub-topology's source nodes (inputs and repartition topics). */
  readonly sourceTopics: readonly string[];
  /** Node ids in topological order. */
  readonly nodes: readonly number[];
  /** Stores used in the sub-topology. */
  readonly stores: readonly string[];
}

/** A built, immutable topology: a named, versioned graph of processors. */
export interface Topology {
  readonly name: string;
  readonly version: number;
  readonly description?: string;
  readonly nodes: readonly GraphNode[];
  readonly topics: ReadonlyMap<string, TopicInfo>;
  readonly stores: ReadonlyMap<string, StoreInfo>;
  readonly globalTables: ReadonlyMap<string, GlobalTableInfo>;
  readonly subtopologies: readonly Subtopology[];
  /** The dead-letter topic of this version. */
  readonly deadLetterTopic: string;
  /** The consumer group (and prefix of internal topics) of this version. */
  readonly groupId: string;
  /**
   * Optional label of the code inside user functions (a git sha, a release); part of the version's fingerprint,
   * since code in functions cannot be hashed soundly (see `src/replay/fingerprint.ts`).
   */
  readonly codeVersion?: string;
}

/**
 * Splits the graph into sub-topologies: connected components, where a repartition topic (a sink whose topic is
 * also read by a source) cuts the graph, and where nodes that use one state store are joined (as Kafka Streams
 * groups processors connected to one store: a join's two sides, a table and the stream joined with it). Ids follow
 * the order of each component's first node.
 */
export function splitSubtopologies(
  nodes: readonly GraphNode[],
  storesOf: (node: GraphNode) => readonly string[],
): Subtopology[] {
  const parent = nodes.map((n) => n.id);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  for (const n of nodes) for (const c of n.children) parent[find(c)] = find(n.id);
  const storeOwner = new Map<string, number>();
  for (const n of nodes)
    for (const s of storesOf(n)) {
      const first = storeOwner.get(s);
      if (first === undefined) storeOwner.set(s, n.id);
      else parent[find(n.id)] = find(first);
    }
  const groups = new Map<number, number[]>();
  for (const n of nodes) {
    const root = find(n.id);
    if (!groups.has(root)) groups.set(root, []);
    groups.get(root)!.push(n.id);
  }
  const subs: Subtopology[] = [];
  for (const ids of [...groups.values()].sort((a, b) => a[0] - b[0])) {
    const members = ids.map((i) => nodes[i]);
    const sourceTopics = members.filter((n) => n.kind === 'source').map((n) => n.topic!);
    const stores = [...new Set(members.flatMap((n) => storesOf(n)))];
    subs.push({ id: subs.length, sourceTopics, nodes: topoOrder(members), stores });
  }
  return subs;
}

function topoOrder(members: readonly GraphNode[]): number[] {
  const inDeg = new Map(members.map((n) => [n.id, n.parents.length]));
  const byId = new Map(members.map((n) => [n.id, n]));
  const ready = members.filter((n) => n.parents.length === 0).map((n) => n.id);
  const out: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const id = ready.shift()!;
    out.push(id);
    for (const c of byId.get(id)!.children) {
      const d = inDeg.get(c)! - 1;
      inDeg.set(c, d);
      if (d === 0) ready.push(c);
    }
  }
  return out;
}
