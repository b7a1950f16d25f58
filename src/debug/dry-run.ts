/**
 * `eddy run <topology> --dry-run`: processes a slice of a version's inputs through the real code (the runtime's
 * processors, record writer and serdes, in test-driver tasks) against a scratch copy of the version's state, and
 * reports what would have been written, writing nothing to the log, the schema registry or the stores.
 */
import type { Log, ProducerRecord } from '../log/contract.js';
import type { FingerprintGuarantee } from '../replay/fingerprint.js';
import { HEADERS, originOf } from '../runtime/serdes.js';
import type { SchemaRegistry } from '../schema/types.js';
import { splitWindowChangelogKey } from '../state/window-store.js';
import type { Topology } from '../topology/graph.js';
import { taskId } from '../topology/names.js';
import { committedPositions, type DebugContext, openDebugContext } from './context.js';
import { Engine, type EngineTask } from './engine.js';
import { openScratchState, readSlice } from './scratch-state.js';

/** Options of `dryRun`. */
export interface DryRunOptions {
  readonly log: Log;
  /** The real registry: read, never written (see `ScratchRegistry`). */
  readonly registry: SchemaRegistry;
  /** Where the version's store files live (`<stateDir>/<topology>.v<N>/...`); only read. */
  readonly stateDir: string;
  readonly topology: Topology;
  /** Most input records to process, spread evenly over the source partitions; default 1,000. */
  readonly limit?: number;
  /**
   * Start at the first record of each source partition whose timestamp is >= this (ms since epoch) instead of the
   * version's committed positions. The state and stream times are still the version's committed ones.
   */
  readonly fromMs?: number;
  /** Records per processed batch; default 5,000. */
  readonly maxBatchRecords?: number;
  /** Sample size per output, dead-letter topic and store; default 5. */
  readonly sampleSize?: number;
  readonly processingGuarantee?: FingerprintGuarantee;
}

/** One slice of an input partition that was processed: offsets [fromOffset, toOffset). */
export interface InputSlice {
  readonly topic: string;
  readonly partition: number;
  readonly fromOffset: number;
  readonly toOffset: number;
  readonly records: number;
}

/** A record that would have been written, decoded. `source` is the input record that made it. */
export interface WouldWrite {
  readonly partition: number;
  readonly key: unknown;
  readonly value: unknown;
  readonly timestamp: number;
  readonly source: { topic: string; partition: number; offset: number };
}

/** A dead letter that would have been written. */
export interface WouldDeadLetter extends WouldWrite {
  readonly reason: string;
  readonly processor: string;
}

/** One key of a store changed by the slice: its committed value and the value after the slice (null: deleted). */
export interface StoreChange {
  readonly key: unknown;
  /** Window stores: the window start, ms since epoch. */
  readonly windowStartMs?: number;
  readonly before: unknown;
  readonly after: unknown;
}

/** What a dry run would have done. */
export interface DryRunReport {
  readonly topology: string;
  readonly version: number;
  readonly inputs: InputSlice[];
  /** Pending records of repartition topics (committed but not yet processed downstream) that were processed too. */
  readonly repartitionBacklog: InputSlice[];
  readonly outputs: { topic: string; records: number; sample: WouldWrite[] }[];
  readonly deadLetters: {
    topic: string;
    records: number;
    byReason: { processor: string; reason: string; records: number }[];
    sample: WouldDeadLetter[];
  };
  readonly stores: { store: string; changelogRecords: number; keysChanged: number; sample: StoreChange[] }[];
  /** Records of windowed processors that arrived after their window closed, by processor. */
  readonly late: Record<string, number>;
  /** Subjects a real run would register a new schema under. */
  readonly wouldRegister: string[];
}

/** Runs a dry run (see the module doc). Errors as `openDebugContext`, and what a processor under `fail` throws. */
export async function dryRun(o: DryRunOptions): Promise<DryRunReport> {
  const ctx = await openDebugContext(o);
  const t = ctx.topology;
  const limit = o.limit ?? 1_000;
  const sampleSize = o.sampleSize ?? 5;
  const tasks: EngineTask[] = [];
  const positions = new Map<string, Map<number, { offset: number; streamTimes: Record<string, number> }>>();
  for (const sub of t.subtopologies)
    for (const topic of sub.sourceTopics) positions.set(topic, await committedPositions(ctx, topic));
  const plain = t.subtopologies.flatMap((sub) =>
    Array.from({ length: ctx.partitions.get(sub.sourceTopics[0])! }, (_, partition) => ({
      subtopology: sub,
      partition,
    })),
  );
  const scratch = await openScratchState(ctx, o.stateDir, plain);
  const captured = new Capture(ctx, sampleSize, (store, task, key) => scratch.before(store, task, key));
  try {
    for (const { subtopology: sub, partition } of plain) {
      const streamTimes: Record<string, number> = {};
      for (const topic of sub.sourceTopics)
        for (const [k, v] of Object.entries(positions.get(topic)?.get(partition)?.streamTimes ?? {}))
          streamTimes[k] = Math.max(v, streamTimes[k] ?? Number.MIN_SAFE_INTEGER);
      tasks.push({ subtopology: sub, partition, stores: scratch.stores.get(taskId(sub.id, partition)), streamTimes });
    }
    const nextOffsets = new Map<string, number>();
    for (const info of t.topics.values())
      if ((await ctx.log.describeTopic(info.name)) !== undefined)
        for (const x of await ctx.log.offsets(info.name)) nextOffsets.set(`${info.name}:${x.partition}`, x.high);
    const engine = new Engine({
      topology: t,
      serdes: ctx.serdes,
      globalTables: ctx.globalTables,
      partitions: ctx.partitions,
      tasks,
      maxBatchRecords: o.maxBatchRecords ?? 5_000,
      nextOffsets,
      onAppend: (r) => captured.add(r),
    });
    const inputs: InputSlice[] = [];
    const backlog: InputSlice[] = [];
    try {
      // Work the version had committed but not finished: repartition records not yet processed downstream.
      if (o.fromMs === undefined)
        for (const info of t.topics.values()) {
          if (info.role !== 'repartition' || (await ctx.log.describeTopic(info.name)) === undefined) continue;
          for (const x of await ctx.log.offsets(info.name)) {
            const from = Math.max(x.low, positions.get(info.name)?.get(x.partition)?.offset ?? x.low);
            backlog.push(await feedSlice(ctx, engine, info.name, x.partition, from, Number.MAX_SAFE_INTEGER, x.high));
          }
        }
      const sources = [...t.topics.values()].filter((i) => i.role === 'source').map((i) => i.name);
      const slots: { topic: string; partition: number }[] = [];
      for (const topic of sources)
        for (let p = 0; p < ctx.partitions.get(topic)!; p++) slots.push({ topic, partition: p });
      for (const [i, { topic, partition }] of slots.entries()) {
        const quota = Math.floor(limit / slots.length) + (i < limit % slots.length ? 1 : 0);
        const range = (await ctx.log.offsets(topic)).find((x) => x.partition === partition)!;
        const start =
          o.fromMs !== undefined
            ? ((await ctx.log.offsetsForTime(topic, o.fromMs)).get(partition) ?? range.high)
            : (positions.get(topic)?.get(partition)?.offset ?? range.low);
        inputs.push(await feedSlice(ctx, engine, topic, partition, Math.max(start, range.low), quota, range.high));
      }
    } finally {
      engine.close();
    }
    return {
      topology: t.name,
      version: t.version,
      inputs,
      repartitionBacklog: backlog.filter((b) => b.records > 0),
      ...captured.report(),
      late: Object.fromEntries(engine.stats.lateBy),
      wouldRegister: ctx.registry.wouldRegister,
    };
  } finally {
    await scratch.close();
  }
}

async function feedSlice(
  ctx: DebugContext,
  engine: Engine,
  topic: string,
  partition: number,
  from: number,
  limit: number,
  high: number,
): Promise<InputSlice> {
  let records = 0;
  let to = from;
  for await (const batch of readSlice(ctx, topic, partition, from, limit, high)) {
    records += batch.length;
    to = batch[batch.length - 1].offset + 1;
    await engine.feed(topic, partition, batch);
  }
  return { topic, partition, fromOffset: from, toOffset: to, records };
}

/** Collects what the tasks would have appended, decoded for the report. */
class Capture {
  private readonly outputs = new Map<string, { records: number; sample: WouldWrite[] }>();
  private readonly dlq = { records: 0, byReason: new Map<string, number>(), sample: [] as WouldDeadLetter[] };
  private readonly stores = new Map<
    string,
    {
      records: number;
      keys: Map<string, { key: Buffer; task: string; before: Buffer | undefined; after: Buffer | null }>;
    }
  >();
  private readonly changelogs = new Map<string, string>();

  constructor(
    private readonly ctx: DebugContext,
    private readonly sampleSize: number,
    private readonly before: (store: string, task: string, key: Buffer) => Buffer | undefined,
  ) {
    for (const s of ctx.topology.stores.values()) this.changelogs.set(s.changelog, s.name);
  }

  add(r: ProducerRecord): void {
    const t = this.ctx.topology;
    const role = t.topics.get(r.topic)?.role;
    const source = originOf({ ...r, offset: -1, headers: r.headers ?? {} });
    if (role === 'output') {
      const o = this.outputs.get(r.topic) ?? { records: 0, sample: [] };
      o.records++;
      if (o.sample.length < this.sampleSize) {
        const s = this.ctx.serdes.topic(r.topic);
        o.sample.push({
          partition: r.partition,
          key: s.key.deserialize(r.key!),
          value: r.value === null ? null : s.value.deserialize(r.value),
          timestamp: r.timestamp,
          source,
        });
      }
      this.outputs.set(r.topic, o);
    } else if (role === 'dlq') {
      const reason = r.headers?.[HEADERS.dlqReason]?.toString() ?? '';
      const processor = r.headers?.[HEADERS.dlqProcessor]?.toString() ?? '';
      this.dlq.records++;
      const k = `${processor}\u0000${normalize(reason)}`;
      this.dlq.byReason.set(k, (this.dlq.byReason.get(k) ?? 0) + 1);
      if (this.dlq.sample.length < this.sampleSize)
        this.dlq.sample.push({
          partition: r.partition,
          key: this.tryDecode(source.topic, 'key', r.key),
          value: this.tryDecode(source.topic, 'value', r.value),
          timestamp: r.timestamp,
          source,
          reason,
          processor,
        });
    } else if (role === 'changelog') {
      const store = this.changelogs.get(r.topic)!;
      const s = this.stores.get(store) ?? { records: 0, keys: new Map() };
      s.records++;
      const id = `${r.partition}/${r.key!.toString('hex')}`;
      const had = s.keys.get(id);
      if (had !== undefined) had.after = r.value;
      else {
        const task = this.taskOf(store, r.partition);
        s.keys.set(id, { key: r.key!, task, before: this.before(store, task, r.key!), after: r.value });
      }
      this.stores.set(store, s);
    }
  }

  private taskOf(store: string, partition: number): string {
    const sub = this.ctx.topology.subtopologies.find((x) => x.stores.includes(store))!;
    return taskId(sub.id, partition);
  }

  private tryDecode(topic: string, part: 'key' | 'value', bytes: Buffer | null): unknown {
    if (bytes === null) return null;
    try {
      return this.ctx.serdes.topic(topic)[part].deserialize(bytes);
    } catch {
      return undefined;
    }
  }

  report(): Pick<DryRunReport, 'outputs' | 'deadLetters' | 'stores'> {
    const t = this.ctx.topology;
    const stores = [...this.stores].map(([store, s]) => {
      const info = t.stores.get(store)!;
      const serde = this.ctx.serdes.store(store);
      const changed = [...s.keys.values()].filter((k) => !sameBytes(k.before ?? null, k.after));
      const sample = changed.slice(0, this.sampleSize).map((k): StoreChange => {
        const split =
          info.kind === 'window' ? splitWindowChangelogKey(k.key) : { key: k.key, windowStartMs: undefined };
        return {
          key: serde.key.deserialize(split.key),
          windowStartMs: split.windowStartMs,
          before: k.before === undefined ? null : serde.value.deserialize(k.before),
          after: k.after === null ? null : serde.value.deserialize(k.after),
        };
      });
      return { store, changelogRecords: s.records, keysChanged: changed.length, sample };
    });
    return {
      outputs: [...this.outputs].map(([topic, o]) => ({ topic, ...o })),
      deadLetters: {
        topic: t.deadLetterTopic,
        records: this.dlq.records,
        byReason: [...this.dlq.byReason]
          .map(([k, records]) => {
            const [processor, reason] = k.split('\u0000');
            return { processor, reason, records };
          })
          .sort((a, b) => b.records - a.records),
        sample: this.dlq.sample,
      },
      stores,
    };
  }
}

/** A dead-letter reason with its numbers replaced by `N`, so that reasons group. */
function normalize(reason: string): string {
  return reason.replace(/-?\d+(\.\d+)?/g, 'N');
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}
