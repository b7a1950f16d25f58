import { type AgentFn, agentProcessor } from '../processors/agent.js';
import type { ErrorPolicy, Processor } from '../processors/context.js';
import type { WindowSpec } from '../processors/window.js';
import type { AvroSchema } from '../schema/types.js';
import {
  type GlobalTableInfo,
  type GraphNode,
  type NodeKind,
  type StoreInfo,
  splitSubtopologies,
  type TopicInfo,
  type Topology,
} from './graph.js';
import { tableFromTopic } from './ktable.js';
import { changelogTopic, checkName, deadLetterTopic, groupId, outputTopic } from './names.js';
import { Stream } from './stream.js';
import type { Table } from './table.js';

export { GroupedStream, WindowedStream } from './grouped.js';
export { GroupedTable } from './ktable.js';
export { Stream } from './stream.js';
export { Table, WindowedTable } from './table.js';

/** Key and value schemas of a topic or store (parsed `.avsc` JSON, or a primitive name such as `"string"`). */
export interface Schemas {
  readonly key: AvroSchema;
  readonly value: AvroSchema;
}

/**
 * Where a source's event time comes from: a field of the value (a number of ms since epoch, or an ISO-8601 string), or
 * a function of the record returning ms since epoch.
 */
export type TimestampExtractor<K, V> = string | ((r: { key: K; value: V; timestamp: number }) => number);

/** Reads event time from field `name` of a record's value: ms since epoch, or an ISO-8601 string. */
function fieldTime(name: string): (r: { value: unknown }) => number {
  return (r) => {
    const v = (r.value as Record<string, unknown> | null)?.[name];
    const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
    if (!Number.isFinite(ms))
      throw new Error(`event time: field "${name}" is ${JSON.stringify(v)}, not ms since epoch or an ISO-8601 time`);
    return ms;
  };
}

/** A versioned output topic handle: writes go to `<name>.v<version>`. */
export interface OutputTopic<K, V> {
  /** The full, versioned topic name. */
  readonly topic: string;
  /** Phantom types, for inference only. */
  readonly __types?: [K, V];
}

/** A global table handle (Kafka Streams `GlobalKTable`). */
export interface GlobalTable<K, V> {
  readonly name: string;
  readonly topic: string;
  readonly __types?: [K, V];
}

/** Options of a topology. */
export interface TopologyOptions {
  /** Topology name: the prefix of its consumer group and internal topics. */
  readonly name: string;
  /** Integer version >= 1. A new version replays its inputs into new `.v<N>` outputs. */
  readonly version: number;
  readonly description?: string;
  /** What to do when user code throws for a record: dead-letter it (default) or fail the task. */
  readonly onError?: ErrorPolicy;
  /**
   * A label for the code inside your functions (e.g. a git sha or `"2"`): it joins the version's fingerprint, so a
   * changed label under the same version is refused like any other change. eddy cannot hash function bodies.
   */
  readonly codeVersion?: string;
}

/**
 * Builds a topology: a named, versioned graph of typed stream processors. Offers both styles users know, compiled
 * to one graph: Kafka Streams-style operator chains (`source(...).filter(...).groupBy(...).aggregate(...)`) and
 * Faust-style agents (`agent(name, stream, async function* ...)`).
 *
 * Every store and internal topic is named explicitly by the user (never from an operator's position), so adding
 * an operator never orphans state. Names derive in one place (`names.ts`).
 */
export class TopologyBuilder {
  readonly name: string;
  readonly version: number;
  readonly policy: ErrorPolicy;
  private readonly description?: string;
  private readonly codeVersion?: string;
  /** @internal */ readonly nodes: GraphNode[] = [];
  /** @internal */ readonly topics = new Map<string, TopicInfo>();
  /** @internal */ readonly stores = new Map<string, StoreInfo>();
  /** @internal */ readonly globalTables = new Map<string, GlobalTableInfo>();
  private readonly names = new Set<string>();
  private built = false;

  constructor(opts: TopologyOptions) {
    this.name = checkName('topology name', opts.name);
    if (!Number.isInteger(opts.version) || opts.version < 1)
      throw new RangeError(`topology version must be an integer >= 1, got ${opts.version}`);
    this.version = opts.version;
    this.description = opts.description;
    this.codeVersion = opts.codeVersion;
    this.policy = opts.onError ?? 'dead-letter';
  }

  /**
   * Reads an external (unversioned) input topic as a stream. Event time is the record's timestamp unless `timestamp`
   * names a field of the value (ms since epoch, or an ISO-8601 string) or is a function of the record (Kafka Streams'
   * `TimestampExtractor`). A record whose event time cannot be read goes to the dead-letter topic.
   * Stream time, which closes windows, is the largest event time seen *per partition*: an input sorted by key rather
   * than by time makes most records of a partition late once a later key's records advanced its stream time.
   */
  source<K, V>(topic: string, schemas: Schemas & { timestamp?: TimestampExtractor<K, V> }): Stream<K, V> {
    const ts = schemas.timestamp;
    const eventTime =
      ts === undefined
        ? undefined
        : typeof ts === 'string'
          ? { description: `field:${ts}`, of: fieldTime(ts) }
          : { description: 'function', of: ts as (r: { key: unknown; value: unknown; timestamp: number }) => number };
    this.addTopic({
      name: checkName('topic', topic),
      role: 'source',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: false,
      eventTime,
    });
    const id = this.addNode(`source:${topic}`, 'source', [], undefined, [], topic);
    return new Stream<K, V>(this, id);
  }

  /**
   * A global table (Kafka Streams `GlobalKTable`): the whole compacted `topic`, bootstrapped to the end before
   * any record is processed, readable by every task; used by `join`/`leftJoin`.
   */
  globalTable<K, V>(name: string, topic: string, schemas: Schemas): GlobalTable<K, V> {
    this.claim(checkName('global table', name));
    this.addTopic({
      name: checkName('topic', topic),
      role: 'global',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: true,
    });
    this.globalTables.set(name, { name, topic, keySchema: schemas.key, valueSchema: schemas.value });
    return { name, topic };
  }

  /**
   * A table read from a (compacted) topic (Kafka Streams `StreamsBuilder#table`, `KTable`): the latest value per key,
   * kept in the key-value store `name` with its own changelog; a null value deletes the key (a tombstone), a record
   * with a null key is dropped (counted). Joinable with a co-partitioned stream (`stream.join(table, ...)`) or table.
   */
  table<K, V>(name: string, topic: string, schemas: Schemas & { keyName?: string }): Table<K, V> {
    return tableFromTopic<K, V>(this, name, topic, schemas);
  }

  /** Declares a versioned output topic `<name>.v<version>`. `partitions` defaults to the inputs' count. */
  output<K, V>(name: string, schemas: Schemas & { partitions?: number; compacted?: boolean }): OutputTopic<K, V> {
    const topic = outputTopic(checkName('output topic', name), this.version);
    this.addTopic({
      name: topic,
      role: 'output',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: schemas.compacted ?? false,
      partitions: schemas.partitions,
    });
    return { topic };
  }

  /**
   * A Faust-style agent over `input`, yielding records of a new stream. `stores` declares its tables (key-value
   * stores with changelogs), reachable as `ctx.table(name)`. See `AgentFn` for the per-batch semantics.
   */
  agent<K, V, K2, V2>(
    name: string,
    input: Stream<K, V>,
    fn: AgentFn<K, V, K2, V2>,
    opts: { stores?: Record<string, Schemas> } = {},
  ): Stream<K2, V2> {
    const storeNames = Object.keys(opts.stores ?? {});
    for (const [store, s] of Object.entries(opts.stores ?? {})) this.addStore(store, 'kv', s);
    const id = this.addNode(name, 'agent', [input.nodeId], agentProcessor(name, fn), storeNames);
    return new Stream<K2, V2>(this, id);
  }

  /** Finishes the graph. The builder cannot be changed afterwards. */
  build(): Topology {
    if (this.built) throw new Error(`topology ${this.name} v${this.version} was already built`);
    this.built = true;
    if (!this.nodes.some((n) => n.kind === 'source'))
      throw new RangeError(`topology ${this.name} has no source: call source(topic, schemas)`);
    const dlq = deadLetterTopic(this.name, this.version);
    this.addTopic({ name: dlq, role: 'dlq', compacted: false });
    const subtopologies = splitSubtopologies(this.nodes, (n) => n.stores.filter((s) => this.stores.has(s)));
    return {
      name: this.name,
      version: this.version,
      description: this.description,
      nodes: this.nodes,
      topics: this.topics,
      stores: this.stores,
      globalTables: this.globalTables,
      subtopologies,
      deadLetterTopic: dlq,
      groupId: groupId(this.name, this.version),
      ...(this.codeVersion === undefined ? {} : { codeVersion: this.codeVersion }),
    };
  }

  /** @internal */
  addNode(
    name: string,
    kind: NodeKind,
    parents: number[],
    processor: Processor | undefined,
    stores: readonly string[],
    topic?: string,
    params?: GraphNode['params'],
  ): number {
    if (this.built) throw new Error(`topology ${this.name} v${this.version} is built; it cannot change`);
    this.claim(name);
    const id = this.nodes.length;
    this.nodes.push({ id, name, kind, parents, children: [], processor, stores, topic, ...(params && { params }) });
    for (const p of parents) this.nodes[p].children.push(id);
    return id;
  }

  /** @internal */
  autoName(kind: string): string {
    let i = this.nodes.length;
    while (this.names.has(`${kind}-${i}`)) i++;
    return `${kind}-${i}`;
  }

  /** @internal */
  addStore(name: string, kind: 'kv' | 'window', schemas: Schemas, window?: WindowSpec, keyName = 'key'): void {
    checkName('store', name);
    if (this.stores.has(name)) throw new RangeError(`store "${name}" is declared twice in topology ${this.name}`);
    const changelog = changelogTopic(this.name, this.version, name);
    this.stores.set(name, {
      name,
      kind,
      keySchema: schemas.key,
      valueSchema: schemas.value,
      changelog,
      window,
      keyName,
    });
    this.addTopic({
      name: changelog,
      role: 'changelog',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: true,
    });
  }

  /** @internal */
  addTopic(t: TopicInfo): void {
    const had = this.topics.get(t.name);
    if (had !== undefined && had.role !== t.role)
      throw new RangeError(`topic "${t.name}" is used as both ${had.role} and ${t.role} in topology ${this.name}`);
    if (had === undefined) this.topics.set(t.name, t);
  }

  private claim(name: string): void {
    if (this.names.has(name))
      throw new RangeError(
        `name "${name}" is used twice in topology ${this.name}; every processor and store needs its own`,
      );
    this.names.add(name);
  }
}

/** Creates a topology builder. */
export function topology(opts: TopologyOptions): TopologyBuilder {
  return new TopologyBuilder(opts);
}
