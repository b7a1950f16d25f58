/**
 * The state stores of one task, from their files to "restored" (Kafka Streams' `ProcessorStateManager` plus the
 * restore half of its `StoreChangelogReader`): opening each store file only when it is intact and is the expected
 * store (else quarantining it), rebuilding a store whose checkpoint lies outside its changelog, and restoring the
 * changelog tail in steps so that a state updater can interleave the restores of many tasks with processing.
 */
import { join } from 'node:path';
import { ConfigError, EddyError, InvalidStateError, StoreCorruptError } from '../errors.js';
import type { Log, LogRecord } from '../log/contract.js';
import { SqliteKeyValueStore } from './kv-store.js';
import {
  examineStoreFile,
  quarantineStoreFile,
  removeStoreFile,
  type StoreIdentity,
  takeCleanMarker,
} from './store-file.js';
import { KeyValueStore, type Serde, WindowStore } from './stores.js';
import { SqliteWindowStore } from './window-store.js';

/** A typed store of either kind, as processors use it. */
export type AnyStore = KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown>;

/** One store of the task: its name, kind, changelog topic and serdes. */
export interface TaskStoreSpec {
  readonly name: string;
  readonly kind: 'kv' | 'window';
  /** The store's changelog topic; the task's partition of it is what the store caches. */
  readonly changelog: string;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
}

/** A store file moved aside, as reported to `onQuarantine`. */
export interface QuarantinedStore {
  readonly store: string;
  readonly task: string;
  /** The file where the store was. */
  readonly file: string;
  /** `corrupt`: SQLite cannot read it intact; `mismatch`: it is another store's file (identity differs). */
  readonly problem: 'corrupt' | 'mismatch';
  readonly reason: string;
  /** Where the file went: `<stateDir>/quarantine/<ISO time>-<group>-<task>-<store>.sqlite`. */
  readonly quarantinedTo: string;
}

/** One line naming everything about a quarantined store (for logs and stderr). */
export function describeQuarantine(q: QuarantinedStore): string {
  return `state store "${q.store}" of task ${q.task} was quarantined (${q.problem}: ${q.reason}): ${q.file} moved to ${q.quarantinedTo}; rebuilding it from its changelog`;
}

/** Options of `TaskStores`. */
export interface TaskStoresOptions {
  /** Where the changelogs are read (`Log.offsets`, `Log.read`). */
  readonly log: Log;
  /** Root of the state directory. */
  readonly stateDir: string;
  /** Topology name and version, recorded in and checked against each store file. */
  readonly topology: string;
  readonly version: number;
  /** The topology version's directory under `stateDir`, e.g. `flight-delays.v1`. */
  readonly group: string;
  /** The task, e.g. `0_3`: its directory under the group's, and recorded in each store file. */
  readonly task: string;
  /** The task's partition: the changelog partition each store caches. */
  readonly partition: number;
  readonly stores: readonly TaskStoreSpec[];
  /** The version's fingerprint: recorded in new store files; a file recording another one is quarantined. */
  readonly fingerprint?: string;
  /** Write-cache bound per store, in entries; default 50,000. */
  readonly maxCacheEntries?: number;
  /** Restore progress of one store: changelog records restored so far, and in all (from its checkpoint to the end). */
  readonly onRestore?: (store: string, restored: number, total: number) => void;
  /** A store file was quarantined (it is then rebuilt from its changelog). */
  readonly onQuarantine?: (q: QuarantinedStore) => void;
}

/** Restore progress of one store. */
export interface StoreRestoreProgress {
  readonly store: string;
  readonly restored: number;
  readonly total: number;
  /** True once the store reflects its changelog up to the end taken at `open()`. */
  readonly done: boolean;
}

/** A store path: `<stateDir>/<group>/<task>/<store>.sqlite`. */
export function storeFilePath(stateDir: string, group: string, task: string, store: string): string {
  return join(stateDir, group, task, `${store}.sqlite`);
}

interface Slot {
  readonly spec: TaskStoreSpec;
  readonly path: string;
  store: AnyStore;
  /** Changelog offsets at open: the first readable one and the end (the high watermark). */
  readonly low: number;
  readonly end: number;
  /** Next changelog offset to restore. */
  position: number;
  total: number;
  restored: number;
  done: boolean;
  reader?: AsyncIterator<LogRecord[]>;
}

/**
 * The stores of one task. Lifecycle: `new` -> `open()` -> `restoreStep()` until it returns true (or `restoreAll()`)
 * -> processing through `stores` -> `close()`.
 *
 * MUST: a store file is read only if it is intact and records the expected identity (`StoreIdentity`); otherwise it
 * is moved to `<stateDir>/quarantine/` (never deleted), `onQuarantine` is called, and the store starts empty.
 * MUST: a store whose checkpoint is below its changelog's log start or beyond its end is rebuilt from empty (its file
 * is out of date, not damaged, and is deleted).
 * MUST: once `restoreStep` returned true, every store reflects its changelog up to the end taken at `open()`.
 * MUST: `close()` may be called twice, and at any point (a revocation during a restore); it records each store's
 * clean-close marker so that the next open skips `PRAGMA quick_check`.
 */
export class TaskStores {
  private readonly slots: Slot[] = [];
  private readonly byName = new Map<string, AnyStore>();
  private phase: 'created' | 'opening' | 'open' | 'closed' = 'created';

  constructor(private readonly o: TaskStoresOptions) {}

  /** The task's stores by name (filled by `open()`; use them for processing only once restored). */
  get stores(): ReadonlyMap<string, AnyStore> {
    return this.byName;
  }

  /** True when every store reached the end of its changelog. */
  get restored(): boolean {
    return this.phase === 'open' && this.slots.every((s) => s.done);
  }

  /** Restore progress per store, in the order of `TaskStoresOptions.stores`. */
  progress(): StoreRestoreProgress[] {
    return this.slots.map((s) => ({ store: s.spec.name, restored: s.restored, total: s.total, done: s.done }));
  }

  /**
   * Opens every store: checks each file (corruption, identity), quarantines a bad one, rebuilds one whose checkpoint
   * is outside its changelog, and takes each changelog's end as the restore target.
   * Throws EddyError `MISSING_CHANGELOG` when a changelog lacks the task's partition, `UnknownTopicError` when it
   * does not exist, `InvalidStateError` when called twice. On a throw, the stores opened so far are closed.
   */
  async open(): Promise<void> {
    if (this.phase !== 'created')
      throw new InvalidStateError(`TaskStores.open() called in phase ${this.phase} (task ${this.o.task})`);
    this.phase = 'opening';
    try {
      for (const spec of this.o.stores) this.slots.push(await this.openSlot(spec));
    } catch (err) {
      await this.close();
      throw err;
    }
    for (const s of this.slots) this.byName.set(s.spec.name, s.store);
    this.phase = 'open';
  }

  private identity(spec: TaskStoreSpec): StoreIdentity {
    const { topology, version, task, partition, fingerprint } = this.o;
    return {
      topology,
      version,
      store: spec.name,
      task,
      changelog: spec.changelog,
      partition,
      kind: spec.kind,
      fingerprint,
    };
  }

  private async openSlot(spec: TaskStoreSpec): Promise<Slot> {
    const { partition } = this.o;
    const offsets = (await this.o.log.offsets(spec.changelog)).find((p) => p.partition === partition);
    if (offsets === undefined)
      throw new EddyError(
        'MISSING_CHANGELOG',
        `changelog ${spec.changelog} of store "${spec.name}" has no partition ${partition}`,
        {
          details: { store: spec.name, changelog: spec.changelog, partition },
        },
      );
    const path = storeFilePath(this.o.stateDir, this.o.group, this.o.task, spec.name);
    const identity = this.identity(spec);
    const found = examineStoreFile(path, identity, takeCleanMarker(path));
    if (found.state === 'corrupt' || found.state === 'mismatch') this.quarantine(spec, path, found.state, found.reason);
    let store: AnyStore;
    let from: number;
    try {
      store = this.create(spec, path, found.state !== 'ok');
      from = store.checkpoint();
    } catch (err) {
      // Damage that only showed when the store was opened for use (examined intact from a valid clean marker).
      if (!(err instanceof StoreCorruptError)) throw err;
      this.quarantine(spec, path, 'corrupt', String(err.details.reason));
      store = this.create(spec, path, true);
      from = 0;
    }
    if (from < offsets.low || from > offsets.high) {
      // Older than the compacted or truncated changelog, or ahead of it (the changelog was recreated): rebuild.
      store.close();
      removeStoreFile(path);
      store = this.create(spec, path, true);
      from = 0;
    }
    const position = Math.max(from, offsets.low);
    const done = position >= offsets.high;
    return {
      spec,
      path,
      store,
      low: offsets.low,
      end: offsets.high,
      position,
      total: Math.max(0, offsets.high - position),
      restored: 0,
      done,
    };
  }

  /** Opens the store at `path`; a new file (`fresh`) gets the expected identity recorded. */
  private create(spec: TaskStoreSpec, path: string, fresh: boolean): AnyStore {
    const opts = { task: this.o.task, recordCleanClose: true };
    const max = this.o.maxCacheEntries ?? 50_000;
    const bytes =
      spec.kind === 'kv'
        ? new SqliteKeyValueStore(spec.name, path, opts)
        : new SqliteWindowStore(spec.name, path, opts);
    try {
      if (fresh) bytes.writeIdentity(this.identity(spec));
    } catch (err) {
      bytes.close();
      throw err;
    }
    return bytes instanceof SqliteKeyValueStore
      ? new KeyValueStore(bytes, spec.keySerde, spec.valueSerde, max)
      : new WindowStore(bytes, spec.keySerde, spec.valueSerde, max);
  }

  private quarantine(spec: TaskStoreSpec, path: string, problem: 'corrupt' | 'mismatch', reason: string): void {
    const quarantinedTo = quarantineStoreFile(this.o.stateDir, path, {
      group: this.o.group,
      task: this.o.task,
      store: spec.name,
    });
    this.o.onQuarantine?.({ store: spec.name, task: this.o.task, file: path, problem, reason, quarantinedTo });
  }

  /**
   * Restores about `maxRecords` changelog records into the stores not yet restored (one store after another), and
   * returns true when every store reached the end of its changelog. The changelogs are read in batches of at most
   * `maxRecords` (the `maxRecords` of the step that started reading a store), kept open between steps, so a step
   * may restore up to one batch more than asked. A store that turns out corrupt while restoring is quarantined and
   * restored again from the start of its changelog.
   * Throws `ConfigError` for a `maxRecords` that is not an integer >= 1, `InvalidStateError` before `open()` or
   * after `close()`.
   */
  async restoreStep(maxRecords: number): Promise<boolean> {
    if (!Number.isInteger(maxRecords) || maxRecords < 1)
      throw new ConfigError(`maxRecords must be an integer >= 1, got ${maxRecords}.`, { maxRecords });
    if (this.phase !== 'open')
      throw new InvalidStateError(`TaskStores.restoreStep() called in phase ${this.phase} (task ${this.o.task})`);
    let budget = maxRecords;
    for (const slot of this.slots) {
      while (budget > 0 && !slot.done) {
        try {
          budget -= await this.restoreBatch(slot, maxRecords);
        } catch (err) {
          if (!(err instanceof StoreCorruptError)) throw err;
          await this.rebuild(slot, String(err.details.reason));
        }
        if (this.phase !== 'open') return false; // closed meanwhile (revoked)
      }
      if (budget <= 0) break;
    }
    return this.slots.every((s) => s.done);
  }

  /** Restores every store to its changelog's end, in steps of `maxRecordsPerStep` (default 10,000). */
  async restoreAll(maxRecordsPerStep = 10_000): Promise<void> {
    while (!(await this.restoreStep(maxRecordsPerStep))) if (this.phase !== 'open') return;
  }

  /** Reads and applies the next batch of one store's changelog; returns the number of records applied. */
  private async restoreBatch(slot: Slot, maxRecords: number): Promise<number> {
    const tp = { topic: slot.spec.changelog, partition: this.o.partition };
    slot.reader ??= this.o.log
      .read(tp, { fromOffset: slot.position, toOffset: slot.end, maxBatchRecords: maxRecords })
      [Symbol.asyncIterator]();
    const next = await slot.reader.next();
    if (this.phase !== 'open') return 0;
    if (next.done) {
      // Transaction markers (Kafka) occupy offsets too: the store is restored when the position reaches the end.
      slot.reader = undefined;
      slot.store.restore([], slot.end);
      slot.position = slot.end;
      slot.done = true;
      return 0;
    }
    const batch = next.value;
    if (batch.length === 0) return 0;
    const checkpoint = batch[batch.length - 1].offset + 1;
    slot.store.restore(
      batch.map((r) => ({ key: r.key!, value: r.value, timestampMs: r.timestamp })),
      checkpoint,
    );
    slot.position = checkpoint;
    slot.restored += batch.length;
    this.o.onRestore?.(slot.spec.name, slot.restored, slot.total);
    return batch.length;
  }

  /** Quarantines a store found corrupt while restoring and starts it again, empty, from its changelog's start. */
  private async rebuild(slot: Slot, reason: string): Promise<void> {
    await slot.reader?.return?.();
    slot.reader = undefined;
    slot.store.close();
    this.quarantine(slot.spec, slot.path, 'corrupt', reason);
    slot.store = this.create(slot.spec, slot.path, true);
    this.byName.set(slot.spec.name, slot.store);
    slot.position = slot.low;
    slot.total = Math.max(0, slot.end - slot.low);
    slot.restored = 0;
    slot.done = slot.position >= slot.end;
  }

  /**
   * Stops any restore in progress and closes every store, recording clean-close markers. Safe to call twice, and at
   * any point.
   */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    for (const s of this.slots) {
      const reader = s.reader;
      s.reader = undefined;
      await reader?.return?.().catch(() => undefined);
      s.store.close();
    }
  }
}
