/**
 * A real EmbeddedLog with the changelogs of two stores (a key-value store and a window store) over two partitions,
 * and `TaskStores` opened on them: shared by the TaskStores and store-fault tests.
 */
import { closeSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Log, ProducerRecord } from '../../src/log/contract.js';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import { KeyValueStore, WindowStore } from '../../src/state/stores.js';
import {
  type QuarantinedStore,
  type TaskStoreSpec,
  TaskStores,
  type TaskStoresOptions,
} from '../../src/state/task-stores.js';
import { windowChangelogKey } from '../../src/state/window-store.js';
import { json, jsonSerde, tempDir } from './helpers.js';

export const TOPOLOGY = 'shop';
export const KV_CHANGELOG = 'shop.v1.totals.changelog';
export const WIN_CHANGELOG = 'shop.v1.hourly.changelog';
export const HOUR_MS = 3_600_000;

export const SPECS: readonly TaskStoreSpec[] = [
  { name: 'totals', kind: 'kv', changelog: KV_CHANGELOG, keySerde: jsonSerde(), valueSerde: jsonSerde() },
  { name: 'hourly', kind: 'window', changelog: WIN_CHANGELOG, keySerde: jsonSerde(), valueSerde: jsonSerde() },
];

/** A value big enough that each store file spans many pages. */
function value(p: number, i: number, round: number): Buffer {
  return json({ partition: p, i, round, pad: 'x'.repeat(150) });
}

/**
 * Changelog records for both partitions: `keys` keys per partition written twice (the second round overwrites),
 * every 10th key then deleted (tombstone); windows likewise. Partitions hold different data.
 */
export async function writeChangelogs(log: Log, keys: number): Promise<void> {
  await log.createTopics([
    { name: KV_CHANGELOG, partitions: 2, compacted: true },
    { name: WIN_CHANGELOG, partitions: 2, compacted: true },
  ]);
  const producer = log.producer();
  for (let round = 0; round < 2; round++) {
    const recs: ProducerRecord[] = [];
    for (let p = 0; p < 2; p++)
      for (let i = 0; i < keys; i++) {
        const k = json(`p${p}-k${i}`);
        recs.push({ topic: KV_CHANGELOG, partition: p, key: k, value: value(p, i, round), timestamp: i });
        recs.push({
          topic: WIN_CHANGELOG,
          partition: p,
          key: windowChangelogKey(k, (i % 24) * HOUR_MS),
          value: value(p, i, round),
          timestamp: i,
        });
      }
    await producer.send(recs);
  }
  const tombstones: ProducerRecord[] = [];
  for (let p = 0; p < 2; p++)
    for (let i = 0; i < keys; i += 10)
      tombstones.push({ topic: KV_CHANGELOG, partition: p, key: json(`p${p}-k${i}`), value: null, timestamp: i });
  await producer.send(tombstones);
  await producer.close();
}

/** A temp directory with an EmbeddedLog holding the changelogs. */
export async function changelogFixture(keys = 1_500) {
  const tmp = tempDir('eddy-task-stores-');
  const log = new EmbeddedLog(join(tmp.dir, 'log.db'));
  await writeChangelogs(log, keys);
  const stateDir = join(tmp.dir, 'state');
  const quarantined: QuarantinedStore[] = [];
  const open: TaskStores[] = [];
  return {
    log,
    stateDir,
    quarantined,
    /** TaskStores for task `0_<partition>` of version 1 (options overridable), opened and fully restored. */
    async restored(partition: number, over: Partial<TaskStoresOptions> = {}): Promise<TaskStores> {
      const ts = this.stores(partition, over);
      await ts.open();
      await ts.restoreAll(500);
      return ts;
    },
    /** TaskStores for task `0_<partition>` (not opened). */
    stores(partition: number, over: Partial<TaskStoresOptions> = {}): TaskStores {
      const version = over.version ?? 1;
      const ts = new TaskStores({
        log,
        stateDir,
        topology: TOPOLOGY,
        version,
        group: `${TOPOLOGY}.v${version}`,
        task: `0_${partition}`,
        partition,
        stores: SPECS,
        onQuarantine: (q) => quarantined.push(q),
        ...over,
      });
      open.push(ts);
      return ts;
    },
    path(partition: number, store: string, version = 1): string {
      return join(stateDir, `${TOPOLOGY}.v${version}`, `0_${partition}`, `${store}.sqlite`);
    },
    quarantineFiles(): string[] {
      try {
        return readdirSync(join(stateDir, 'quarantine')).sort();
      } catch {
        return [];
      }
    },
    async cleanup(): Promise<void> {
      for (const ts of open) await ts.close();
      await log.close();
      tmp.cleanup();
    },
  };
}

/** A store's committed contents as comparable data. */
export function contents(ts: TaskStores): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [name, s] of ts.stores) {
    if (s instanceof KeyValueStore) out[name] = [...s.entries()];
    else if (s instanceof WindowStore) out[name] = [...s.entries()];
    out[`${name}.checkpoint`] = [s.checkpoint()];
  }
  return out;
}

/** Overwrites `bytes` at `offset` of a file, in place. */
export function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Deterministic pseudo-random bytes (a fault must be the same on every run). */
export function noise(length: number, seed = 7): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
