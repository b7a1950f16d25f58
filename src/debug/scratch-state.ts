/**
 * A scratch copy of a topology version's state: the version's store files copied into a temporary directory and
 * brought up to the end of their changelogs there, exactly as the runtime restores them (`TaskStores`), reading the
 * changelogs with `Log.read` only. The version's own files are only read.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogRecord } from '../log/contract.js';
import { SqliteKeyValueStore } from '../state/kv-store.js';
import type { Serde } from '../state/stores.js';
import { type AnyStore, storeFilePath, TaskStores } from '../state/task-stores.js';
import { SqliteWindowStore, splitWindowChangelogKey } from '../state/window-store.js';
import type { Subtopology } from '../topology/graph.js';
import { taskId } from '../topology/names.js';
import type { DebugContext } from './context.js';

/** The scratch stores of some tasks. `close()` closes them and deletes the directory. */
export interface ScratchState {
  readonly dir: string;
  /** Stores by task (`<subtopology>_<partition>`), then by name. */
  readonly stores: Map<string, ReadonlyMap<string, AnyStore>>;
  /**
   * The value bytes a store held in the scratch copy before any processing (the committed state), for a changelog
   * record's key; undefined when the key was absent.
   */
  before(store: string, task: string, changelogKey: Buffer): Buffer | undefined;
  close(): Promise<void>;
}

/**
 * Copies `<stateDir>/<topology>.v<N>/` into a new temporary directory and opens and restores the stores of `tasks`
 * there. A store whose changelog topic does not exist (the version never ran) is left out: the task then starts
 * with an empty store in memory.
 */
export async function openScratchState(
  ctx: DebugContext,
  stateDir: string,
  tasks: readonly { subtopology: Subtopology; partition: number }[],
): Promise<ScratchState> {
  const t = ctx.topology;
  const dir = mkdtempSync(join(tmpdir(), 'eddy-scratch-'));
  const opened: TaskStores[] = [];
  const readers = new Map<string, SqliteKeyValueStore | SqliteWindowStore>();
  const stores = new Map<string, ReadonlyMap<string, AnyStore>>();
  try {
    const source = join(stateDir, t.groupId);
    if (existsSync(source)) cpSync(source, join(dir, t.groupId), { recursive: true });
    for (const { subtopology: sub, partition } of tasks) {
      const specs = [];
      for (const name of sub.stores) {
        const info = t.stores.get(name)!;
        if ((await ctx.log.describeTopic(info.changelog)) === undefined) continue;
        const serde = ctx.serdes.store(name) as { key: Serde<unknown>; value: Serde<unknown> };
        specs.push({ name, kind: info.kind, changelog: info.changelog, keySerde: serde.key, valueSerde: serde.value });
      }
      if (specs.length === 0) continue;
      const task = taskId(sub.id, partition);
      const ts = new TaskStores({
        log: ctx.log,
        stateDir: dir,
        topology: t.name,
        version: t.version,
        group: t.groupId,
        task,
        partition,
        stores: specs,
        onQuarantine: () => undefined,
      });
      opened.push(ts);
      await ts.open();
      await ts.restoreAll();
      stores.set(task, ts.stores);
    }
  } catch (err) {
    for (const ts of opened) await ts.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    stores,
    before(store, task, changelogKey) {
      const id = `${task}/${store}`;
      let r = readers.get(id);
      if (r === undefined) {
        const path = storeFilePath(dir, t.groupId, task, store);
        if (!existsSync(path)) return undefined;
        r =
          t.stores.get(store)!.kind === 'kv'
            ? new SqliteKeyValueStore(store, path)
            : new SqliteWindowStore(store, path);
        readers.set(id, r);
      }
      if (r instanceof SqliteKeyValueStore) return r.get(changelogKey);
      const k = splitWindowChangelogKey(changelogKey);
      return r.get(k.key, k.windowStartMs);
    },
    async close() {
      for (const r of readers.values()) r.close();
      for (const ts of opened) await ts.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Reads at most `limit` records of one partition from `fromOffset` (to `toOffset`, else the end at the call), in
 * batches of at most `maxBatchRecords` (default 10,000).
 */
export async function* readSlice(
  ctx: DebugContext,
  topic: string,
  partition: number,
  fromOffset: number,
  limit: number,
  toOffset?: number,
  maxBatchRecords = 10_000,
): AsyncIterable<LogRecord[]> {
  let left = limit;
  if (left <= 0) return;
  for await (const batch of ctx.log.read({ topic, partition }, { fromOffset, toOffset, maxBatchRecords })) {
    const take = batch.length > left ? batch.slice(0, left) : batch;
    left -= take.length;
    if (take.length > 0) yield take;
    if (left <= 0) return;
  }
}
