/**
 * `eddy trace`: which input records made a store value (or the output record a store emitted), and the value after
 * each, found by replaying only the inputs that can reach the key, in dry-run mode (nothing written), with the
 * store's aggregation processor instrumented to run the key's records one at a time.
 *
 * Narrowing (`trace-plan.ts`): only the processors whose records can reach the store's writer run. The store's task
 * partition is the partition of the key in the store's sub-topology input (co-partitioning makes a store key live in
 * one partition); a sub-topology that reads external inputs directly replays only that partition; one behind a
 * repartition replays every partition of the upstream inputs (any of them may re-key to it), and the repartition
 * sink keeps only the records of that partition (of that key, for a key-value aggregation) before serializing them.
 * At the aggregation, records of other keys only move stream time (windowed) or are skipped (key-value): a key's
 * aggregate depends on nothing else.
 */

import { ConfigError, EddyError, UnknownStoreError } from '../errors.js';
import type { Log, LogRecord } from '../log/contract.js';
import { partitionFor } from '../log/partitioner.js';
import type { Flowing, Processor } from '../processors/context.js';
import { windowsFor } from '../processors/window.js';
import type { FingerprintGuarantee } from '../replay/fingerprint.js';
import { originOf } from '../runtime/serdes.js';
import { AvroSerde } from '../schema/avro-serde.js';
import type { SchemaRegistry } from '../schema/types.js';
import { KeyValueStore, keyId, type Serde, WindowStore } from '../state/stores.js';
import type { GraphNode, StoreInfo, Topology } from '../topology/graph.js';
import { outputTopic } from '../topology/names.js';
import { committedPositions, type DebugContext, openDebugContext } from './context.js';
import type { InputSlice } from './dry-run.js';
import { Engine, type EngineTask } from './engine.js';
import { readSlice } from './scratch-state.js';
import { narrowTopology } from './trace-plan.js';

/**
 * Records per batch a trace reads from the log, and per batch it runs through a task. Small batches let the objects
 * a batch makes (decoded values, enriched copies) die young: with 10,000 the replay spent most of its time in the
 * garbage collector (measured on the 3M-flight demo: 11 s of CPU against 7 s).
 */
const READ_BATCH_RECORDS = 4_000;
const PROCESS_BATCH_RECORDS = 1_000;

/** One input record that reached the store's aggregation for the traced key (and window). */
export interface TraceStep {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Event time, ms since epoch. */
  readonly timestamp: number;
  /** `applied`: folded into the value; `dead-lettered`: rejected at the aggregation (late, or its aggregator threw). */
  readonly status: 'applied' | 'dead-lettered';
  /** The store value after this record. */
  readonly value: unknown;
}

/** What `traceStore` and `traceOutput` found. */
export interface TraceResult {
  readonly topology: string;
  readonly version: number;
  readonly store: string;
  readonly key: unknown;
  readonly windowStartMs?: number;
  /** The task partition of the key (the store's changelog partition). */
  readonly partition: number;
  /** What was replayed. */
  readonly replayed: InputSlice[];
  readonly steps: TraceStep[];
  /**
   * What the repartition sinks feeding the store's task kept (see `trace-plan.ts`): the topics filtered by the traced
   * key (the others by its partition), and the records that reached those sinks and that were kept.
   */
  readonly repartition: { readonly keyFiltered: readonly string[]; readonly records: number; readonly kept: number };
  /** The value after the replay (undefined: no record reached the key). */
  readonly value: unknown;
  readonly elapsedMs: number;
}

/** Options of `traceStore`. */
export interface TraceStoreOptions {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly topology: Topology;
  readonly store: string;
  readonly key: unknown;
  /** Window stores: a time inside the window (its start for hopping windows), ms since epoch. */
  readonly windowMs?: number;
  /** Replay an external input partition only up to this record, inclusive (an output's provenance). */
  readonly until?: { topic: string; partition: number; offset: number };
  readonly processingGuarantee?: FingerprintGuarantee;
}

/**
 * Traces one key (and window) of a store back to its input records, up to the version's committed positions.
 * @throws UnknownStoreError; ConfigError for a missing or ambiguous window; the errors of `openDebugContext`.
 */
export async function traceStore(o: TraceStoreOptions): Promise<TraceResult> {
  const started = Date.now();
  const t = o.topology;
  const info = t.stores.get(o.store);
  if (info === undefined) throw new UnknownStoreError(o.store, [...t.stores.keys()]);
  if (info.windows !== undefined)
    throw new EddyError(
      'NOT_TRACEABLE',
      `store "${o.store}" holds ${info.windows.type} windows, which eddy trace does not follow yet (their windows move and merge); inspect it with eddy inspect ${o.store} or eddy sql`,
    );
  const windowStartMs = info.kind === 'window' ? windowStart(info, o.windowMs) : undefined;
  const ctx = await openDebugContext(o);
  const sub = t.subtopologies.find((s) => s.stores.includes(o.store))!;
  const node = t.nodes.find((n) => sub.nodes.includes(n.id) && n.stores.includes(o.store) && n.processor !== undefined);
  if (node === undefined) throw new EddyError('NOT_TRACEABLE', `no processor of ${t.name} writes store "${o.store}"`);
  const input = sub.sourceTopics[0];
  const partition = partitionFor(ctx.serdes.topic(input).key.serialize(o.key), ctx.partitions.get(input)!);
  const steps: TraceStep[] = [];
  let engine: Engine | undefined;
  const read = () => readValue(engine!, input, partition, info, o.key, windowStartMs);
  const deadLetters = () => [...engine!.stats.deadLetters.values()].reduce((a, b) => a + b, 0);
  const narrowed = narrowTopology(t, {
    writer: node,
    instrumented: instrument(
      node,
      info,
      o.key,
      ctx.serdes.store(info.name).key as Serde<unknown>,
      windowStartMs,
      steps,
      read,
      deadLetters,
    ),
    subtopology: sub,
    partition,
    partitions: ctx.partitions,
    keySerde: (topic) => ctx.serdes.topic(topic).key,
    key: o.key,
  });
  const tasks: EngineTask[] = [{ subtopology: sub, partition }];
  for (const u of t.subtopologies)
    if (u !== sub && u.nodes.some((id) => narrowed.relevant.has(id)))
      for (let p = 0; p < ctx.partitions.get(u.sourceTopics[0])!; p++) tasks.push({ subtopology: u, partition: p });
  engine = new Engine({
    topology: narrowed.topology,
    serdes: ctx.serdes,
    globalTables: ctx.globalTables,
    partitions: ctx.partitions,
    tasks,
    maxBatchRecords: PROCESS_BATCH_RECORDS,
  });
  const replayed: InputSlice[] = [];
  try {
    for (const task of tasks)
      for (const id of task.subtopology.nodes) {
        const n = t.nodes[id];
        if (n.kind !== 'source' || !narrowed.relevant.has(id) || t.topics.get(n.topic!)?.role !== 'source') continue;
        // An output's provenance (`until`) names the input record that emitted it. Fed straight from the input, the
        // key lives in that one partition: replay it up to that record. Behind a repartition the run interleaved the
        // upstream partitions in an order the log does not keep: replay the provenance partition up to the record and
        // every other partition to its committed position (every record that may have contributed).
        replayed.push(
          await replay(
            ctx,
            engine,
            n.topic!,
            task.partition,
            o.until,
            task.subtopology === sub ? 'only' : 'others-committed',
          ),
        );
      }
    return {
      topology: t.name,
      version: t.version,
      store: o.store,
      key: o.key,
      windowStartMs,
      partition,
      replayed: replayed.filter((r) => r.records > 0),
      steps,
      repartition: {
        keyFiltered: narrowed.keyFiltered,
        records: narrowed.filtered.seen,
        kept: narrowed.filtered.kept,
      },
      value: read(),
      elapsedMs: Date.now() - started,
    };
  } finally {
    engine.close();
  }
}

/** Options of `traceOutput`. */
export interface TraceOutputOptions extends Omit<TraceStoreOptions, 'store' | 'key' | 'windowMs' | 'until'> {
  readonly output: string;
  readonly partition: number;
  readonly offset: number;
}

/**
 * Traces an output record back to its input records: the store whose aggregate it carries (the aggregation upstream
 * of the output), the record's key, its window (the one containing the record's timestamp: a windowed aggregate's
 * result carries the max timestamp of its records; with hopping windows, which overlap, the time lies in several and
 * the `ConfigError` names them), replayed up to the
 * input record named by its provenance headers. Behind a repartition the other upstream partitions replay to their
 * committed positions (their interleaving with the provenance partition is not kept in the log): the steps are every
 * record of the key that may have contributed.
 * @throws EddyError `NO_RECORD` when there is no record at that offset, `NOT_TRACEABLE` when no aggregation feeds it.
 */
export async function traceOutput(
  o: TraceOutputOptions,
): Promise<TraceResult & { output: { key: unknown; value: unknown } }> {
  const t = o.topology;
  // one naming rule across trace, diff and tail: the output's unversioned name (with the version chosen by --version)
  // or its versioned topic name
  const versioned = outputTopic(o.output, t.version);
  if (t.topics.get(o.output)?.role !== 'output' && t.topics.get(versioned)?.role === 'output')
    return traceOutput({ ...o, output: versioned });
  const info = t.topics.get(o.output);
  if (info === undefined || info.role !== 'output')
    throw new ConfigError(
      `"${o.output}" is not an output topic of ${t.name} v${t.version}; outputs: ${[...t.topics.values()]
        .filter((x) => x.role === 'output')
        .map((x) => x.name)
        .join(', ')}`,
    );
  let rec: LogRecord | undefined;
  for await (const b of o.log.read(
    { topic: o.output, partition: o.partition },
    { fromOffset: o.offset, toOffset: o.offset + 1 },
  ))
    rec = b.find((r) => r.offset === o.offset) ?? rec;
  if (rec === undefined)
    throw new EddyError(
      'NO_RECORD',
      `no record at ${o.output} partition ${o.partition} offset ${o.offset}; see eddy topics`,
      {
        details: { topic: o.output, partition: o.partition, offset: o.offset },
      },
    );
  const seen = new Set<number>();
  const stack = t.nodes.filter((n) => n.kind === 'sink' && n.topic === o.output).map((n) => n.id);
  let agg: GraphNode | undefined;
  while (stack.length > 0 && agg === undefined) {
    const n = t.nodes[stack.pop()!];
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.kind === 'aggregate' || n.kind === 'window-aggregate') agg = n;
    else stack.push(...n.parents);
  }
  if (agg === undefined) throw new EddyError('NOT_TRACEABLE', `no aggregation of ${t.name} feeds output ${o.output}`);
  const store = t.stores.get(agg.stores.find((s) => t.stores.has(s))!)!;
  const key = await decodeKey(o, rec.key);
  // A windowed aggregate's result carries the max timestamp of its window's records, a time inside the window.
  const windowMs = store.kind === 'window' ? rec.timestamp : undefined;
  const origin = originOf(rec);
  const result = await traceStore({ ...o, store: store.name, key, windowMs, until: origin });
  return { ...result, output: { key, value: await decodeValue(o, rec.value) } };
}

async function decodeKey(o: TraceOutputOptions, bytes: Buffer | null): Promise<unknown> {
  const info = o.topology.topics.get(o.output)!;
  const s = await AvroSerde.reader(o.registry, `${o.output}-key`, info.keySchema!);
  await s.prepare([AvroSerde.schemaIdOf(bytes!)]);
  return s.deserialize(bytes!);
}

async function decodeValue(o: TraceOutputOptions, bytes: Buffer | null): Promise<unknown> {
  if (bytes === null) return null;
  const info = o.topology.topics.get(o.output)!;
  const s = await AvroSerde.reader(o.registry, `${o.output}-value`, info.valueSchema!);
  await s.prepare([AvroSerde.schemaIdOf(bytes)]);
  return s.deserialize(bytes);
}

/** The window start for `--window`: the tumbling window containing `ms`, or for hopping windows `ms` itself. */
function windowStart(info: StoreInfo, ms: number | undefined): number {
  const spec = info.window;
  if (spec === undefined)
    throw new EddyError(
      'NOT_TRACEABLE',
      `store "${info.name}" is a stream-stream join buffer (records by key and timestamp), not windows of an aggregation: eddy trace follows aggregation stores; read it with eddy inspect`,
    );
  if (ms === undefined)
    throw new ConfigError(`store "${info.name}" is a window store: name the window with --window <ISO time>`);
  const starts = windowsFor(spec, ms).map((w) => w.startMs);
  if (starts.includes(ms) || starts.length === 1) return starts.includes(ms) ? ms : starts[0];
  throw new ConfigError(
    `${new Date(ms).toISOString()} lies in ${starts.length} windows of store "${info.name}"; name one by its start: ${starts.map((s) => new Date(s).toISOString()).join(', ')}`,
  );
}

async function replay(
  ctx: DebugContext,
  engine: Engine,
  topic: string,
  partition: number,
  until: TraceStoreOptions['until'],
  /** `only`: the other partitions of `until`'s topic replay nothing; `others-committed`: to their committed position. */
  untilMode: 'only' | 'others-committed',
): Promise<InputSlice> {
  const range = (await ctx.log.offsets(topic)).find((x) => x.partition === partition)!;
  let end = (await committedPositions(ctx, topic)).get(partition)?.offset ?? range.low;
  if (until !== undefined && until.topic === topic) {
    if (until.partition === partition) end = until.offset + 1;
    else if (untilMode === 'only') end = range.low;
  }
  let records = 0;
  let to = range.low;
  for await (const batch of readSlice(
    ctx,
    topic,
    partition,
    range.low,
    Number.MAX_SAFE_INTEGER,
    end,
    READ_BATCH_RECORDS,
  )) {
    records += batch.length;
    to = batch[batch.length - 1].offset + 1;
    await engine.feed(topic, partition, batch);
  }
  return { topic, partition, fromOffset: range.low, toOffset: to, records };
}

function readValue(
  engine: Engine,
  input: string,
  partition: number,
  info: StoreInfo,
  key: unknown,
  w?: number,
): unknown {
  const s = engine.task(input, partition)!.stores.get(info.name);
  const v = s instanceof KeyValueStore ? s.get(key) : s instanceof WindowStore ? s.get(key, w!) : undefined;
  return v === undefined ? undefined : structuredClone(v);
}

/**
 * The store's processor, instrumented: records of the traced key go through it one at a time and each that
 * reached the traced window is recorded with the value after it; other records are skipped (a key-value
 * aggregation) or only move stream time (a windowed aggregation, whose stream time is the largest event time seen).
 */
function instrument(
  node: GraphNode,
  info: StoreInfo,
  key: unknown,
  keySerde: Serde<unknown>,
  windowStartMs: number | undefined,
  steps: TraceStep[],
  read: () => unknown,
  deadLetters: () => number,
): Processor {
  const inner = node.processor!;
  const skippable = node.kind === 'aggregate' || node.kind === 'window-aggregate';
  // The store's own identity of a key (the string, else its serialized bytes): a record key decodes to an object of
  // the schema's class, which is never deep-equal to the plain object the user names.
  const id = keyId(key, keySerde);
  const matches = (r: Flowing) => {
    try {
      return r.key === key || keyId(r.key, keySerde) === id;
    } catch {
      return false; // a key the store cannot hold is not the traced key
    }
  };
  return {
    async process(records, ctx) {
      const out: Flowing[] = [];
      let run: Flowing[] = [];
      const flush = async () => {
        if (run.length === 0) return;
        if (!skippable) out.push(...((await inner.process(run, ctx)) as Flowing[]));
        else if (node.kind === 'window-aggregate') {
          let now = ctx.streamTime(node.name);
          for (const r of run) if (r.timestamp > now) now = r.timestamp;
          ctx.setStreamTime(node.name, now);
        }
        run = [];
      };
      for (const r of records as Flowing[]) {
        if (!matches(r)) {
          run.push(r);
          continue;
        }
        await flush();
        const dl = deadLetters();
        out.push(...((await inner.process([r], ctx)) as Flowing[]));
        const inWindow =
          windowStartMs === undefined || windowsFor(info.window!, r.timestamp).some((w) => w.startMs === windowStartMs);
        if (!inWindow) continue;
        const origin = r.origin ?? originOf(r.raw);
        steps.push({
          topic: origin.topic,
          partition: origin.partition,
          offset: origin.offset,
          timestamp: r.timestamp,
          status: deadLetters() > dl ? 'dead-lettered' : 'applied',
          value: read(),
        });
      }
      await flush();
      return out;
    },
  };
}
