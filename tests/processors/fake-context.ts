/**
 * A fake `ProcessorContext`: a test double standing in for the runtime's `Task` (src/runtime/task.ts), so that
 * processors can be unit-tested with no log at all. Stores are the real `KeyValueStore`/`WindowStore` over SQLite
 * files in a temporary directory (JSON serdes); global tables are in-memory maps; `send`, `deadLetter` and the
 * metrics are recorded for assertions; stream times live in a map. `commit()` mimics the runtime's commit step
 * (pending changes -> "changelog" -> `committed`), `rollback()` its abort.
 */
import { UnknownStoreError } from '../../src/errors.js';
import type { LogRecord } from '../../src/log/contract.js';
import type { Flowing, ProcessorContext, ProcessorMetrics, ReadonlyGlobalTable } from '../../src/processors/context.js';
import { NO_STREAM_TIME } from '../../src/processors/window.js';
import { SqliteKeyValueStore } from '../../src/state/kv-store.js';
import type { ChangelogEntry } from '../../src/state/sqlite.js';
import { KeyValueStore, WindowStore } from '../../src/state/stores.js';
import { SqliteWindowStore } from '../../src/state/window-store.js';
import { jsonSerde, tempDir } from '../state/helpers.js';

export interface DeadLetter {
  readonly rec: Flowing;
  readonly processor: string;
  readonly reason: string;
}

export interface FakeContextOptions {
  /** Names of key-value stores (JSON serdes). */
  kv?: string[];
  /** Names of window stores (JSON serdes). */
  window?: string[];
  /** Global tables by name. */
  globals?: Record<string, ReadonlyMap<unknown, unknown>>;
  maxCacheEntries?: number;
  taskId?: string;
  partition?: number;
}

type AnyStore = KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown>;

export class FakeContext implements ProcessorContext {
  readonly taskId: string;
  readonly partition: number;
  readonly sent: { topic: string; rec: Flowing }[] = [];
  readonly deadLetters: DeadLetter[] = [];
  readonly droppedBy = new Map<string, number>();
  readonly lateBy = new Map<string, number>();
  readonly streamTimes = new Map<string, number>();
  /** Stream times as of the last commit (the runtime restores them on an abort). */
  private committedStreamTimes = new Map<string, number>();
  /** Every changelog entry committed, per store, in order (what the changelog topics would hold). */
  readonly changelogs = new Map<string, ChangelogEntry[]>();
  readonly metrics: ProcessorMetrics;
  private readonly stores = new Map<string, AnyStore>();
  private readonly globals: Map<string, ReadonlyMap<unknown, unknown>>;
  private readonly tmp = tempDir('eddy-proc-');

  constructor(opts: FakeContextOptions = {}) {
    this.taskId = opts.taskId ?? '0_0';
    this.partition = opts.partition ?? 0;
    const max = opts.maxCacheEntries;
    for (const name of opts.kv ?? [])
      this.stores.set(
        name,
        new KeyValueStore(
          new SqliteKeyValueStore(name, this.tmp.file(`${name}.sqlite`)),
          jsonSerde(),
          jsonSerde(),
          max,
        ),
      );
    for (const name of opts.window ?? [])
      this.stores.set(
        name,
        new WindowStore(new SqliteWindowStore(name, this.tmp.file(`${name}.sqlite`)), jsonSerde(), jsonSerde(), max),
      );
    for (const name of this.stores.keys()) this.changelogs.set(name, []);
    this.globals = new Map(Object.entries(opts.globals ?? {}));
    const bump =
      (m: Map<string, number>) =>
      (p: string, n = 1) =>
        void m.set(p, (m.get(p) ?? 0) + n);
    this.metrics = { dropped: bump(this.droppedBy), late: bump(this.lateBy) };
  }

  kvStore<K, V>(name: string): KeyValueStore<K, V> {
    const s = this.stores.get(name);
    if (!(s instanceof KeyValueStore)) throw new UnknownStoreError(name, [...this.stores.keys()]);
    return s as KeyValueStore<K, V>;
  }

  windowStore<K, V>(name: string): WindowStore<K, V> {
    const s = this.stores.get(name);
    if (!(s instanceof WindowStore)) throw new UnknownStoreError(name, [...this.stores.keys()]);
    return s as WindowStore<K, V>;
  }

  globalTable<K, V>(name: string): ReadonlyGlobalTable<K, V> {
    const g = this.globals.get(name);
    if (g === undefined) throw new UnknownStoreError(name, [...this.globals.keys()]);
    return { get: (k: K) => g.get(k) as V | undefined, size: g.size };
  }

  streamTime(processor: string): number {
    return this.streamTimes.get(processor) ?? NO_STREAM_TIME;
  }

  setStreamTime(processor: string, ms: number): void {
    this.streamTimes.set(processor, ms);
  }

  send(topic: string, rec: Flowing): void {
    this.sent.push({ topic, rec });
  }

  deadLetter(rec: Flowing, processor: string, reason: string): void {
    this.deadLetters.push({ rec, processor, reason });
  }

  dropped(processor: string): number {
    return this.droppedBy.get(processor) ?? 0;
  }

  late(processor: string): number {
    return this.lateBy.get(processor) ?? 0;
  }

  /**
   * Like the runtime after a committed transaction: each store's pending changes go to its changelog and SQLite
   * (checkpoint = changelog length), and the stream times become the ones a rollback returns to.
   */
  commit(): void {
    for (const [name, store] of this.stores) {
      const log = this.changelogs.get(name)!;
      const entries = store.pendingChanges();
      log.push(...entries);
      store.committed(entries, log.length);
    }
    this.committedStreamTimes = new Map(this.streamTimes);
  }

  /** Like the runtime after an aborted transaction: write caches dropped, stream times as of the last commit. */
  rollback(): void {
    for (const s of this.stores.values()) s.rolledBack();
    this.streamTimes.clear();
    for (const [k, v] of this.committedStreamTimes) this.streamTimes.set(k, v);
  }

  close(): void {
    for (const s of this.stores.values()) s.close();
    this.tmp.cleanup();
  }
}

/**
 * A flowing record as the runtime would hand it to the first processor: `raw` is a JSON-encoded log record of
 * `topic`/`partition`/`offset`, `origin` the same position.
 */
export function rec<K, V>(
  key: K,
  value: V,
  timestamp: number,
  offset: number,
  topic = 'input',
  partition = 0,
): Flowing<K, V> {
  const headers = { 'x-test': Buffer.from(String(offset)) };
  const raw: LogRecord = {
    topic,
    partition,
    offset,
    key: Buffer.from(JSON.stringify(key)),
    value: Buffer.from(JSON.stringify(value)),
    headers,
    timestamp,
  };
  return { key, value, timestamp, headers, raw, origin: { topic, partition, offset } };
}

/** Records with consecutive offsets from `[key, value, timestamp]` triples. */
export function recs<K, V>(
  rows: readonly (readonly [K, V, number])[],
  firstOffset = 0,
  topic = 'input',
): Flowing<K, V>[] {
  return rows.map(([k, v, t], i) => rec(k, v, t, firstOffset + i, topic));
}

/** The user-visible part of flowing records plus their source offset, for exact comparisons. */
export function view(
  records: readonly Flowing[],
): { key: unknown; value: unknown; timestamp: number; offset: number }[] {
  return records.map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp, offset: r.origin.offset }));
}
