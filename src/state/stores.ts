import type { SqliteKeyValueStore } from './kv-store.js';
import { type ChangelogEntry, NO_TIMESTAMP } from './sqlite.js';
import { type SqliteWindowStore, windowChangelogKey } from './window-store.js';

/** Turns values into bytes and back. `AvroSerde` (src/schema) is the one eddy uses. */
export interface Serde<T> {
  serialize(value: T): Buffer;
  deserialize(bytes: Buffer): T;
}

/**
 * Identity of a key inside the write cache: a string key is itself; any other key is its serialized bytes (as the
 * changelog identifies it), so two equal keys built with properties in another order are one key.
 */
export function keyId<K>(key: K, serde: Serde<K>): string {
  return typeof key === 'string' ? key : serde.serialize(key).toString('latin1');
}

/**
 * The bytes that order keys among results emitted together (several windows closed by one record): a string key's
 * UTF-8 bytes, any other key's serialized bytes. Kafka Streams orders them by the raw serialized key, which for its
 * usual string keys (`Serdes.String()`) is the UTF-8 bytes; eddy's serialized string keys are Avro, whose length
 * prefix would put `k2` before `k10`, so string keys are compared as Kafka Streams would see them.
 */
export function emitOrderBytes<K>(key: K, serde: Serde<K>, serialized?: Buffer): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : (serialized ?? serde.serialize(key));
}

interface CacheEntry<K, V> {
  key: K;
  windowStartMs: number;
  value: V | null;
  /** The entry's timestamp (ms); undefined for a pending write that gave none (stamped at commit). */
  timestampMs: number | undefined;
  dirty: boolean;
}

/**
 * A stored value with its timestamp (Kafka Streams' `ValueAndTimestamp`): `timestampMs` is ms since epoch, or
 * `NO_TIMESTAMP` (-1) when unknown (a row written before stores kept timestamps, or a pending write that gave none:
 * it gets the batch's last timestamp when the batch commits).
 */
export interface ValueAndTimestamp<V> {
  readonly value: V;
  readonly timestampMs: number;
}

/**
 * The per-task write cache in front of a byte store (Kafka Streams' record cache, `cache.max.bytes.buffering`,
 * counted here in entries). Reads go through it; writes stay in it until the batch commits. Repeated writes to
 * one key within a batch coalesce into one changelog record.
 *
 * Lifecycle per batch: get/put ... -> `pendingChanges()` (changelog records to send in the transaction) ->
 * `committed(checkpoint)` after the transaction commits (writes the cache to SQLite with the new checkpoint),
 * or `rolledBack()` after an abort (drops the whole cache, since aggregators may mutate cached values in place).
 *
 * Each entry carries a timestamp (ms), as Kafka Streams' timestamped stores keep `ValueAndTimestamp`: the one given to
 * `put`, which becomes the changelog record's timestamp. A write without one gets the batch's last timestamp.
 */
abstract class CachedStore<K, V> {
  protected readonly cache = new Map<string, CacheEntry<K, V>>();
  /** Identities of the entries written since the last commit, in first-written order (a commit visits only these). */
  private dirtyIds: string[] = [];
  /** Cache hits and misses since open (a data-health metric: hit ratio of the write cache). */
  hits = 0;
  misses = 0;

  protected constructor(
    readonly name: string,
    protected readonly keySerde: Serde<K>,
    protected readonly valueSerde: Serde<V>,
    /** Clean entries kept after a commit; dirty entries are never evicted. */
    protected readonly maxCacheEntries: number,
  ) {}

  protected abstract changelogKey(e: CacheEntry<K, V>): Buffer;
  protected abstract byteStore(): SqliteKeyValueStore | SqliteWindowStore;

  protected lookup(
    id: string,
    load: () => { value: Buffer; timestampMs: number } | undefined,
    key: K,
    windowStartMs: number,
  ): CacheEntry<K, V> | undefined {
    const hit = this.cache.get(id);
    if (hit !== undefined) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const row = load();
    if (row === undefined) return undefined;
    const entry: CacheEntry<K, V> = {
      key,
      windowStartMs,
      value: this.valueSerde.deserialize(row.value),
      timestampMs: row.timestampMs,
      dirty: false,
    };
    this.cache.set(id, entry);
    return entry;
  }

  protected write(id: string, key: K, windowStartMs: number, value: V | null, timestampMs: number | undefined): void {
    if (timestampMs !== undefined && !Number.isFinite(timestampMs))
      throw new TypeError(`store ${this.name}: timestamp must be a finite number of ms, got ${timestampMs}`);
    const e = this.cache.get(id);
    if (e === undefined) {
      this.cache.set(id, { key, windowStartMs, value, timestampMs, dirty: true });
      this.dirtyIds.push(id);
    } else {
      e.value = value;
      e.timestampMs = timestampMs;
      if (!e.dirty) {
        e.dirty = true;
        this.dirtyIds.push(id);
      }
    }
  }

  /** The identity of `key` in this store (equal for keys whose serialized bytes are equal). */
  identity(key: K): string {
    return keyId(key, this.keySerde);
  }

  /** The serialized bytes of `key` (what orders keys: `Buffer.compare`, as `startingIn` does). */
  keyBytes(key: K): Buffer {
    return this.keySerde.serialize(key);
  }

  /** Number of entries written since the last commit (what the next changelog flush will send). */
  get pendingCount(): number {
    return this.dirtyIds.length;
  }

  /**
   * The changelog records for everything written since the last commit, in first-written order, each with its
   * entry's timestamp (undefined for a write that gave none: the caller stamps it, see `TaskContext.changelogs`).
   */
  pendingChanges(): ChangelogEntry[] {
    const out: ChangelogEntry[] = [];
    for (const id of this.dirtyIds) {
      const e = this.cache.get(id)!;
      out.push({
        key: this.changelogKey(e),
        value: e.value === null ? null : this.valueSerde.serialize(e.value),
        timestampMs: e.timestampMs,
      });
    }
    return out;
  }

  /**
   * After the transaction with `changes` committed: applies them to SQLite with the new checkpoint (the
   * changelog offset after the last record sent), marks the cache clean and evicts clean entries over the bound.
   * `changes` are `pendingChanges()`' entries in its order, possibly stamped with a timestamp: the cached entries take
   * those timestamps, so cache and SQLite agree.
   */
  committed(changes: readonly ChangelogEntry[], checkpoint: number): void {
    this.byteStore().apply(changes, checkpoint);
    const stamped = changes.length === this.dirtyIds.length;
    for (let i = 0; i < this.dirtyIds.length; i++) {
      const e = this.cache.get(this.dirtyIds[i])!;
      if (stamped) e.timestampMs = changes[i].timestampMs;
      e.dirty = false;
      if (e.value === null) this.cache.delete(this.dirtyIds[i]);
    }
    this.dirtyIds = [];
    this.trim();
  }

  /** Evicts the oldest clean entries over `maxCacheEntries` (also after batches that only read). */
  trim(): void {
    let excess = this.cache.size - this.maxCacheEntries;
    if (excess <= 0) return;
    for (const [id, e] of this.cache) {
      if (e.dirty) continue;
      this.cache.delete(id);
      if (--excess <= 0) break;
    }
  }

  /** After an abort: forgets every cached entry (the SQLite store still holds the last committed state). */
  rolledBack(): void {
    this.cache.clear();
    this.dirtyIds = [];
  }

  /** The changelog offset the SQLite store reflects. */
  checkpoint(): number {
    return this.byteStore().checkpoint();
  }

  /** Applies restored changelog records (no cache involved). Requires an empty write cache. */
  restore(entries: readonly ChangelogEntry[], checkpoint: number): void {
    if (this.dirtyIds.length > 0) throw new Error(`store ${this.name}: restore with uncommitted writes`);
    this.cache.clear();
    this.byteStore().apply(entries, checkpoint);
  }

  close(): void {
    this.cache.clear();
    this.byteStore().close();
  }
}

/**
 * A typed key-value state store: the handle processors use (`get`, `put`, `delete`), backed by a write cache
 * and a SQLite byte store, its every committed change captured into the store's changelog topic.
 */
export class KeyValueStore<K, V> extends CachedStore<K, V> {
  constructor(
    private readonly bytes: SqliteKeyValueStore,
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
    maxCacheEntries = 50_000,
  ) {
    super(bytes.name, keySerde, valueSerde, maxCacheEntries);
  }

  protected byteStore(): SqliteKeyValueStore {
    return this.bytes;
  }

  protected changelogKey(e: CacheEntry<K, V>): Buffer {
    return this.keySerde.serialize(e.key);
  }

  private entry(key: K): CacheEntry<K, V> | undefined {
    return this.lookup(
      keyId(key, this.keySerde),
      () => this.bytes.getWithTimestamp(this.keySerde.serialize(key)),
      key,
      0,
    );
  }

  /** The value for `key`, or undefined. */
  get(key: K): V | undefined {
    return this.entry(key)?.value ?? undefined;
  }

  /** The value for `key` with its timestamp (Kafka Streams' `TimestampedKeyValueStore#get`), or undefined. */
  getWithTimestamp(key: K): ValueAndTimestamp<V> | undefined {
    const e = this.entry(key);
    if (e === undefined || e.value === null) return undefined;
    return { value: e.value, timestampMs: e.timestampMs ?? NO_TIMESTAMP };
  }

  /**
   * Writes `value` for `key` (visible to `get` at once, durable when the batch commits). `timestampMs` (ms) is kept
   * with the value and stamps its changelog record; without it, the batch's last timestamp is used.
   * Throws `TypeError` for a timestamp that is not a finite number.
   */
  put(key: K, value: V, timestampMs?: number): void {
    this.write(keyId(key, this.keySerde), key, 0, value, timestampMs);
  }

  /** Deletes `key`; the changelog gets a tombstone (stamped with `timestampMs`, else the batch's last timestamp). */
  delete(key: K, timestampMs?: number): void {
    this.write(keyId(key, this.keySerde), key, 0, null, timestampMs);
  }

  /** Committed entries, decoded, ordered by key bytes (the write cache is not included). */
  *entries(): IterableIterator<{ key: K; value: V }> {
    for (const r of this.bytes.all())
      yield { key: this.keySerde.deserialize(r.key), value: this.valueSerde.deserialize(r.value) };
  }

  count(): number {
    return this.bytes.count();
  }
}

/** A window: [startMs, endMs). */
export interface Window {
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * A typed window store: values per (key, window start). Backed like `KeyValueStore`; its changelog key is the
 * key's bytes followed by the 8-byte window start (see `windowChangelogKey`).
 */
export class WindowStore<K, V> extends CachedStore<K, V> {
  constructor(
    private readonly bytes: SqliteWindowStore,
    keySerde: Serde<K>,
    valueSerde: Serde<V>,
    maxCacheEntries = 50_000,
  ) {
    super(bytes.name, keySerde, valueSerde, maxCacheEntries);
  }

  protected byteStore(): SqliteWindowStore {
    return this.bytes;
  }

  protected changelogKey(e: CacheEntry<K, V>): Buffer {
    return windowChangelogKey(this.keySerde.serialize(e.key), e.windowStartMs);
  }

  private entry(key: K, windowStartMs: number): CacheEntry<K, V> | undefined {
    const id = `${keyId(key, this.keySerde)}\u0000${windowStartMs}`;
    const load = () => this.bytes.getWithTimestamp(this.keySerde.serialize(key), windowStartMs);
    return this.lookup(id, load, key, windowStartMs);
  }

  /** The value of the window of `key` starting at `windowStartMs`, or undefined. */
  get(key: K, windowStartMs: number): V | undefined {
    return this.entry(key, windowStartMs)?.value ?? undefined;
  }

  /** One window's value with its timestamp (Kafka Streams' `TimestampedWindowStore#fetch(key, time)`), or undefined. */
  getWithTimestamp(key: K, windowStartMs: number): ValueAndTimestamp<V> | undefined {
    const e = this.entry(key, windowStartMs);
    if (e === undefined || e.value === null) return undefined;
    return { value: e.value, timestampMs: e.timestampMs ?? NO_TIMESTAMP };
  }

  /**
   * Writes the value of one window. `timestampMs` (ms) is kept with the value and stamps its changelog record;
   * without it, the batch's last timestamp is used. Throws `TypeError` for a timestamp that is not a finite number.
   */
  put(key: K, windowStartMs: number, value: V, timestampMs?: number): void {
    this.writeWindow(key, windowStartMs, value, timestampMs);
  }

  /**
   * Deletes one window of `key` (visible to `get` and `fetch` at once; the changelog gets a tombstone, stamped with
   * `timestampMs`, else the batch's last timestamp). Used by operators whose windows move or merge (session windows)
   * and by retention.
   */
  remove(key: K, windowStartMs: number, timestampMs?: number): void {
    this.writeWindow(key, windowStartMs, null, timestampMs);
  }

  /** Window starts written since the last commit, per key identity: what `fetch` must overlay on SQLite's rows. */
  private pendingStarts = new Map<string, Set<number>>();

  private writeWindow(key: K, windowStartMs: number, value: V | null, timestampMs: number | undefined): void {
    const kid = keyId(key, this.keySerde);
    this.write(`${kid}\u0000${windowStartMs}`, key, windowStartMs, value, timestampMs);
    let starts = this.pendingStarts.get(kid);
    if (starts === undefined) {
      starts = new Set();
      this.pendingStarts.set(kid, starts);
    }
    starts.add(windowStartMs);
  }

  /**
   * The windows of `key` whose start lies in [fromMs, toMs] (both inclusive, as Kafka Streams'
   * `WindowStore#fetch(key, timeFrom, timeTo)`), committed and pending alike, ordered by start. Removed windows
   * (pending tombstones) are left out. Costs one indexed SQLite range read plus this key's pending writes.
   */
  fetch(key: K, fromMs: number, toMs: number): { windowStartMs: number; value: V }[] {
    const kid = keyId(key, this.keySerde);
    const pending = this.pendingStarts.get(kid);
    const found = new Map<number, V>();
    for (const r of this.bytes.byKeyAndStart(this.keySerde.serialize(key), fromMs, toMs)) {
      if (pending?.has(r.windowStartMs)) continue; // a pending write or tombstone overrides the committed row
      found.set(r.windowStartMs, this.valueSerde.deserialize(r.value));
    }
    if (pending !== undefined)
      for (const start of pending) {
        if (start < fromMs || start > toMs) continue;
        const v = this.cache.get(`${kid}\u0000${start}`)?.value;
        if (v !== null && v !== undefined) found.set(start, v);
      }
    return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([windowStartMs, value]) => ({ windowStartMs, value }));
  }

  override committed(changes: readonly ChangelogEntry[], checkpoint: number): void {
    super.committed(changes, checkpoint);
    this.pendingStarts.clear();
  }

  override rolledBack(): void {
    super.rolledBack();
    this.pendingStarts.clear();
  }

  /**
   * Windows whose start lies in [fromMs, toMs), committed and pending alike, ordered by start then key bytes
   * (`Buffer.compare` of `emitOrderBytes`: a string key's UTF-8 bytes, else the serialized key), each with its timestamp (ms; `NO_TIMESTAMP` when unknown). Used to
   * emit windows as they close.
   */
  startingIn(fromMs: number, toMs: number): { key: K; windowStartMs: number; value: V; timestampMs: number }[] {
    type Found = { key: K; keyBytes: Buffer; windowStartMs: number; value: V; timestampMs: number };
    const found = new Map<string, Found>();
    for (const r of this.bytes.byStartRange(fromMs, toMs)) {
      const key = this.keySerde.deserialize(r.key);
      const id = `${keyId(key, this.keySerde)}\u0000${r.windowStartMs}`;
      const cached = this.cache.get(id);
      if (cached !== undefined) continue; // the cache holds the newer value; added below
      found.set(id, {
        key,
        keyBytes: emitOrderBytes(key, this.keySerde, r.key),
        windowStartMs: r.windowStartMs,
        value: this.valueSerde.deserialize(r.value),
        timestampMs: r.timestampMs,
      });
    }
    for (const [id, e] of this.cache) {
      if (e.windowStartMs < fromMs || e.windowStartMs >= toMs || e.value === null) continue;
      found.set(id, {
        key: e.key,
        keyBytes: emitOrderBytes(e.key, this.keySerde),
        windowStartMs: e.windowStartMs,
        value: e.value,
        timestampMs: e.timestampMs ?? NO_TIMESTAMP,
      });
    }
    return [...found.values()]
      .sort((a, b) => a.windowStartMs - b.windowStartMs || Buffer.compare(a.keyBytes, b.keyBytes))
      .map(({ key, windowStartMs, value, timestampMs }) => ({ key, windowStartMs, value, timestampMs }));
  }

  /** Committed windows, decoded, ordered by key bytes then start (the write cache is not included). */
  *entries(): IterableIterator<{ key: K; windowStartMs: number; value: V }> {
    for (const r of this.bytes.all())
      yield {
        key: this.keySerde.deserialize(r.key),
        windowStartMs: r.windowStartMs,
        value: this.valueSerde.deserialize(r.value),
      };
  }

  count(): number {
    return this.bytes.count();
  }
}
