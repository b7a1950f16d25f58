import type { ProcessorMetrics } from '../processors/context.js';

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

/** Width of the sliding window of `RunStats.recordsPerSecond`, seconds. */
export const RATE_WINDOW_SECONDS = 60;

/** Records counted per wall-clock second over the last `RATE_WINDOW_SECONDS` (a ring of per-second buckets). */
class RateWindow {
  private readonly buckets = new Float64Array(RATE_WINDOW_SECONDS);
  private readonly seconds = new Float64Array(RATE_WINDOW_SECONDS).fill(-1);

  add(n: number, nowMs: number): void {
    const sec = Math.floor(nowMs / 1000);
    const i = sec % RATE_WINDOW_SECONDS;
    if (this.seconds[i] !== sec) {
      this.seconds[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i] += n;
  }

  /** Records per second over the last window (or since `sinceMs` when that is shorter), completed seconds only. */
  perSecond(nowMs: number, sinceMs: number): number {
    const now = Math.floor(nowMs / 1000);
    let n = 0;
    for (let i = 0; i < RATE_WINDOW_SECONDS; i++) {
      const s = this.seconds[i];
      if (s >= now - RATE_WINDOW_SECONDS && s <= now) n += this.buckets[i];
    }
    const spanS = Math.min(RATE_WINDOW_SECONDS, Math.max(1, (nowMs - sinceMs) / 1000));
    return n / spanS;
  }
}

/** Health of one output or dead-letter topic (see `DataHealth`). */
export interface TopicHealth {
  /** Records committed to the topic. */
  readonly records: number;
  /** Records per second: over the last minute (metrics), or over the whole run (run records). */
  readonly recordsPerSecond: number;
  /** Output topics: per value field, the records whose field was null (or absent). */
  readonly nullCounts?: Readonly<Record<string, number>>;
}

/**
 * The health of the data of a run (not of the process): throughput per output and dead-letter topic, the share of
 * input records that were dead-lettered or late, and null counts per output field.
 */
export interface DataHealth {
  /** Records read from the source topics (the denominator of the ratios). */
  readonly inputRecords: number;
  /** Dead letters / input records (0 when nothing was read). */
  readonly deadLetterRatio: number;
  /** Late records (after window end + grace) / input records (0 when nothing was read). */
  readonly lateRatio: number;
  readonly outputs: Readonly<Record<string, TopicHealth>>;
  readonly deadLetterTopics: Readonly<Record<string, TopicHealth>>;
}

/** The field names of an Avro record schema (for `RunStats.nullFields`); `[]` for any other schema. */
export function valueFieldNames(schema: unknown): string[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [];
  const s = schema as { type?: unknown; fields?: { name: string }[] };
  return s.type === 'record' && Array.isArray(s.fields) ? s.fields.map((f) => f.name) : [];
}

/** The topics of a topology version by role, as `RunStats.health` needs them. */
export interface HealthTopics {
  readonly sources: readonly string[];
  readonly outputs: readonly string[];
  readonly deadLetterTopic: string;
}

/** The counters of a `RunStats` as plain data (see `RunStats.counters`). */
export interface RunCounters {
  readonly recordsIn: Record<string, number>;
  readonly recordsOut: Record<string, number>;
  readonly deadLetters: Record<string, number>;
  readonly droppedBy: Record<string, number>;
  readonly lateBy: Record<string, number>;
  readonly restoredBy: Record<string, number>;
  /** Re-driven copies skipped per source topic (see `RunStats.redrivenSkipped`); absent in older counters. */
  readonly redrivenSkipped?: Record<string, number>;
  readonly lag: Record<string, number>;
  readonly nullCounts: Record<string, Record<string, number>>;
  readonly commits: number;
  readonly aborts: number;
  readonly restoredRecords: number;
  readonly rebalances: number;
}

/**
 * Counters of one run. Beside the process (commits, restores) they describe the data: records in and out per
 * topic, dead letters per processor, records dropped by filters and joins, late records per window.
 */
export class RunStats implements ProcessorMetrics {
  readonly startedAtMs = Date.now();
  readonly recordsIn = new Map<string, number>();
  readonly recordsOut = new Map<string, number>();
  readonly deadLetters = new Map<string, number>();
  readonly droppedBy = new Map<string, number>();
  readonly lateBy = new Map<string, number>();
  /**
   * Re-driven copies skipped per source topic: copies of another version's dead letters whose original this version
   * read itself (src/runtime/redriven.ts). They are not counted in `recordsIn`.
   */
  readonly redrivenSkipped = new Map<string, number>();
  /** Committed transactions (one per task batch). */
  commits = 0;
  aborts = 0;
  /** Changelog records applied while restoring stores. */
  restoredRecords = 0;
  /** Changelog records applied while restoring, per store (counted by the runner from restore progress). */
  readonly restoredBy = new Map<string, number>();
  /**
   * Rebalances seen by this member: assignment changes (a revocation followed by an assignment with no batch between
   * counts once; the first assignment counts; the revocation on stop does not).
   */
  rebalances = 0;
  /** Consumer lag per `topic:partition` (high watermark - next offset), as of the last batch. */
  readonly lag = new Map<string, number>();
  /** Per output topic, per value field: records whose field was null or absent (see `nullFields`). */
  readonly nullCounts = new Map<string, Map<string, number>>();
  private readonly rates = new Map<string, RateWindow>();

  in(topic: string, n: number): void {
    bump(this.recordsIn, topic, n);
  }
  out(topic: string, n = 1, nowMs = Date.now()): void {
    bump(this.recordsOut, topic, n);
    let r = this.rates.get(topic);
    if (r === undefined) {
      r = new RateWindow();
      this.rates.set(topic, r);
    }
    r.add(n, nowMs);
  }
  /**
   * Counts the null (or absent) fields of an output record's value, per field of `fields` (the value schema's
   * fields; every field gets a count, 0 included). A value that is not a record counts under the field `value`.
   */
  nullFields(topic: string, value: unknown, fields: readonly string[]): void {
    let m = this.nullCounts.get(topic);
    if (m === undefined) {
      m = new Map(fields.map((f) => [f, 0]));
      this.nullCounts.set(topic, m);
    }
    if (value === null || value === undefined || typeof value !== 'object') {
      if (value === null || value === undefined) bump(m, 'value');
      return;
    }
    const v = value as Record<string, unknown>;
    for (const f of fields) if (v[f] === null || v[f] === undefined) bump(m, f);
  }
  /** Records per second committed to `topic` over the last `RATE_WINDOW_SECONDS`. */
  recordsPerSecond(topic: string, nowMs = Date.now()): number {
    return this.rates.get(topic)?.perSecond(nowMs, this.startedAtMs) ?? 0;
  }
  deadLetter(processor: string): void {
    bump(this.deadLetters, processor);
  }
  dropped(processor: string, n = 1): void {
    bump(this.droppedBy, processor, n);
  }
  late(processor: string, n = 1): void {
    bump(this.lateBy, processor, n);
  }
  redriven(topic: string, n = 1): void {
    bump(this.redrivenSkipped, topic, n);
  }
  /** Re-driven copies skipped over all topics. */
  totalRedrivenSkipped(): number {
    let n = 0;
    for (const v of this.redrivenSkipped.values()) n += v;
    return n;
  }
  restored(store: string, n: number): void {
    bump(this.restoredBy, store, n);
  }

  /** Sum of records read from `topics` (all topics when omitted). */
  totalIn(topics?: readonly string[]): number {
    let n = 0;
    for (const [t, v] of this.recordsIn) if (topics === undefined || topics.includes(t)) n += v;
    return n;
  }

  /** Total lag over all partitions. */
  totalLag(): number {
    let n = 0;
    for (const v of this.lag.values()) n += v;
    return n;
  }

  /** Dead letters over all processors. */
  totalDeadLetters(): number {
    let n = 0;
    for (const v of this.deadLetters.values()) n += v;
    return n;
  }

  /** Late records over all processors. */
  totalLate(): number {
    let n = 0;
    for (const v of this.lateBy.values()) n += v;
    return n;
  }

  /**
   * The data health of the run so far (see `DataHealth`). `window` `recent`: records per second over the last
   * minute (metrics); `run`: over the whole run (run records).
   */
  health(t: HealthTopics, window: 'recent' | 'run' = 'run', nowMs = Date.now()): DataHealth {
    const inputRecords = this.totalIn(t.sources);
    const ratio = (n: number) => (inputRecords === 0 ? 0 : n / inputRecords);
    const elapsedS = Math.max(0.001, (nowMs - this.startedAtMs) / 1000);
    const topic = (name: string, nulls: boolean): TopicHealth => {
      const records = this.recordsOut.get(name) ?? 0;
      const recordsPerSecond = window === 'run' ? records / elapsedS : this.recordsPerSecond(name, nowMs);
      const counts = this.nullCounts.get(name);
      return nulls
        ? { records, recordsPerSecond, nullCounts: Object.fromEntries(counts ?? []) }
        : { records, recordsPerSecond };
    };
    return {
      inputRecords,
      deadLetterRatio: ratio(this.totalDeadLetters()),
      lateRatio: ratio(this.totalLate()),
      outputs: Object.fromEntries(t.outputs.map((o) => [o, topic(o, true)])),
      deadLetterTopics: { [t.deadLetterTopic]: topic(t.deadLetterTopic, false) },
    };
  }

  /**
   * Every counter as plain data (structured-clonable): what a version thread sends its host, which adds the growth
   * between two of them to its own counters (`addGrowth`).
   */
  counters(): RunCounters {
    const nulls: Record<string, Record<string, number>> = {};
    for (const [topic, m] of this.nullCounts) nulls[topic] = Object.fromEntries(m);
    return {
      recordsIn: Object.fromEntries(this.recordsIn),
      recordsOut: Object.fromEntries(this.recordsOut),
      deadLetters: Object.fromEntries(this.deadLetters),
      droppedBy: Object.fromEntries(this.droppedBy),
      lateBy: Object.fromEntries(this.lateBy),
      restoredBy: Object.fromEntries(this.restoredBy),
      redrivenSkipped: Object.fromEntries(this.redrivenSkipped),
      lag: Object.fromEntries(this.lag),
      nullCounts: nulls,
      commits: this.commits,
      aborts: this.aborts,
      restoredRecords: this.restoredRecords,
      rebalances: this.rebalances,
    };
  }

  /**
   * Adds what grew from `prev` to `next` (two `counters()` of another `RunStats`, e.g. a version thread's) to these
   * counters; output records also count into the records/s windows. Lag is taken as `next` says.
   */
  addGrowth(prev: RunCounters | undefined, next: RunCounters): void {
    const grow = (into: Map<string, number>, a: Record<string, number> | undefined, b: Record<string, number>) => {
      for (const [k, v] of Object.entries(b)) if (v !== (a?.[k] ?? 0)) bump(into, k, v - (a?.[k] ?? 0));
    };
    grow(this.recordsIn, prev?.recordsIn, next.recordsIn);
    for (const [k, v] of Object.entries(next.recordsOut)) {
      const d = v - (prev?.recordsOut[k] ?? 0);
      if (d !== 0) this.out(k, d);
    }
    grow(this.deadLetters, prev?.deadLetters, next.deadLetters);
    grow(this.droppedBy, prev?.droppedBy, next.droppedBy);
    grow(this.lateBy, prev?.lateBy, next.lateBy);
    grow(this.restoredBy, prev?.restoredBy, next.restoredBy);
    grow(this.redrivenSkipped, prev?.redrivenSkipped, next.redrivenSkipped ?? {});
    for (const [topic, m] of Object.entries(next.nullCounts)) {
      let into = this.nullCounts.get(topic);
      if (into === undefined) {
        into = new Map();
        this.nullCounts.set(topic, into);
      }
      for (const [f, v] of Object.entries(m)) into.set(f, (into.get(f) ?? 0) + v - (prev?.nullCounts[topic]?.[f] ?? 0));
    }
    this.lag.clear();
    for (const [k, v] of Object.entries(next.lag)) this.lag.set(k, v);
    this.commits += next.commits - (prev?.commits ?? 0);
    this.aborts += next.aborts - (prev?.aborts ?? 0);
    this.restoredRecords += next.restoredRecords - (prev?.restoredRecords ?? 0);
    this.rebalances += next.rebalances - (prev?.rebalances ?? 0);
  }

  /** A plain-object snapshot (for JSON output and run records). */
  toJSON(): Record<string, unknown> {
    return {
      elapsedMs: Date.now() - this.startedAtMs,
      recordsIn: Object.fromEntries(this.recordsIn),
      recordsOut: Object.fromEntries(this.recordsOut),
      deadLetters: Object.fromEntries(this.deadLetters),
      dropped: Object.fromEntries(this.droppedBy),
      late: Object.fromEntries(this.lateBy),
      redrivenSkipped: Object.fromEntries(this.redrivenSkipped),
      commits: this.commits,
      aborts: this.aborts,
      restoredRecords: this.restoredRecords,
      restoredBy: Object.fromEntries(this.restoredBy),
      rebalances: this.rebalances,
    };
  }
}
