import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { EddyError } from '../errors.js';
import { AvroSerde } from '../schema/avro-serde.js';
import { StoreSchemaError } from '../schema/errors.js';
import type { SchemaRegistry } from '../schema/types.js';
import { SqliteKeyValueStore } from '../state/kv-store.js';
import { SqliteWindowStore } from '../state/window-store.js';
import { type StoreInfo, type Topology, windowEndMs } from '../topology/graph.js';

/** One row of a store dump: the key under its column name, window bounds (window stores) and the value's fields. */
export type StoreRow = Record<string, unknown>;

/** Task directories of a topology version that hold a file for `store`, sorted by task id. */
export function storeFiles(stateDir: string, t: Topology, store: string): { task: string; path: string }[] {
  const dir = join(stateDir, t.groupId);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((task) => ({ task, path: join(dir, task, `${store}.sqlite`) }))
    .filter((f) => existsSync(f.path));
}

function flatten(info: StoreInfo, key: unknown, value: unknown, window?: { startMs: number; endMs: number }): StoreRow {
  const row: StoreRow = { [info.keyName]: key };
  if (window) {
    row.window_start = new Date(window.startMs).toISOString();
    row.window_end = new Date(window.endMs).toISOString();
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) Object.assign(row, value);
  else row.value = value;
  return row;
}

/**
 * Reads a store's committed state across all its task files (the SQLite caches, not the changelog), decoded with
 * the store's schemas: each key and value with the writer schema named by its schema id, resolved to the schema the
 * topology declares for the store. Registers nothing. With `key`, only that key. Rows sorted by key then window start.
 * Throws EddyError `NO_STATE` when no task of the topology has the store on disk, and `StoreSchemaError` (naming the
 * store, saying to bump the version) when a value was written with a schema the store's schema cannot read.
 */
export async function readStore(opts: {
  stateDir: string;
  topology: Topology;
  store: StoreInfo;
  registry: SchemaRegistry;
  key?: string;
}): Promise<StoreRow[]> {
  const { topology: t, store: info } = opts;
  const files = storeFiles(opts.stateDir, t, info.name);
  if (files.length === 0)
    throw new EddyError(
      'NO_STATE',
      `store "${info.name}" has no state under ${join(opts.stateDir, t.groupId)}. Run the topology first: eddy run ${t.name}`,
      { details: { store: info.name } },
    );
  const keySerde = await AvroSerde.reader<unknown>(opts.registry, `${info.changelog}-key`, info.keySchema);
  const valueSerde = await AvroSerde.reader<unknown>(opts.registry, `${info.changelog}-value`, info.valueSchema);
  await keySerde.prepareSubject();
  await valueSerde.prepareSubject();
  const decode = async (serde: AvroSerde<unknown>, buf: Buffer): Promise<unknown> => {
    try {
      // ids outside the subject's versions (another registry's?) are fetched once; failures are remembered
      await serde.prepare([AvroSerde.schemaIdOf(buf)]);
      return serde.deserialize(buf);
    } catch (err) {
      const id = buf.length >= 5 && buf[0] === 0 ? buf.readInt32BE(1) : undefined;
      throw new StoreSchemaError(info.name, serde.subject, id, (err as Error).message, err);
    }
  };
  const wanted = opts.key === undefined ? undefined : parseKey(opts.key, info);
  const rows: { start: number; row: StoreRow }[] = [];
  for (const f of files) {
    if (info.kind === 'kv') {
      const s = new SqliteKeyValueStore(info.name, f.path);
      try {
        for (const e of s.all()) {
          const key = await decode(keySerde, e.key);
          if (wanted !== undefined && !isDeepStrictEqual(key, wanted)) continue;
          rows.push({ start: 0, row: flatten(info, key, await decode(valueSerde, e.value)) });
        }
      } finally {
        s.close();
      }
    } else {
      const s = new SqliteWindowStore(info.name, f.path);
      try {
        for (const e of s.all()) {
          const key = await decode(keySerde, e.key);
          if (wanted !== undefined && !isDeepStrictEqual(key, wanted)) continue;
          const value = await decode(valueSerde, e.value);
          // a session's end is in its value; a time or sliding window's follows from its start
          const w = { startMs: e.windowStartMs, endMs: windowEndMs(info, e.windowStartMs, value) };
          rows.push({ start: e.windowStartMs, row: flatten(info, key, value, w) });
        }
      } finally {
        s.close();
      }
    }
  }
  rows.sort((a, b) => String(a.row[info.keyName]).localeCompare(String(b.row[info.keyName])) || a.start - b.start);
  return rows.map((r) => r.row);
}

/** Parses a `--key` argument: a string key as is; other key types as JSON. */
function parseKey(raw: string, info: StoreInfo): unknown {
  if (info.keySchema === 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    throw new EddyError('BAD_KEY', `--key ${raw} is not valid JSON; store "${info.name}" has a non-string key`, {
      details: { store: info.name },
    });
  }
}
