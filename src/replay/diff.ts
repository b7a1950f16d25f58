/**
 * Diff: what a code change did to the results. Compares one store (or one output topic) of two versions of a
 * topology key by key: keys only in A, only in B, equal, different, and a sample of differing keys with both values
 * decoded. Stores are compared in SQLite: every task file of each version's store (`<stateDir>/<topology>.v<N>/
 * <task>/<store>.sqlite`, tables `kv`/`win` of src/state) is ATTACHed in turn into two temporary tables keyed by the
 * key's Avro body (the bytes after the 5-byte Confluent header, so two schema ids of one key type still join) and the
 * window start; rows with equal value bytes are equal without decoding, the rest are decoded (each version with its
 * own schema) and compared field by field. Outputs are compared by the latest value per key (and per window start,
 * when the value has a `window_start` field).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EddyError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { AvroSerde } from '../schema/avro-serde.js';
import type { AvroSchema, SchemaRegistry } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';
import { outputTopic } from '../topology/names.js';
import { canonicalJson } from './fingerprint.js';

/** One differing key: the key and window start (ISO, window stores and windowed outputs), and both values. */
export interface DiffSample {
  readonly key: unknown;
  readonly windowStart?: string;
  readonly a: unknown;
  readonly b: unknown;
}

/** The result of a diff. Counts are keys (key and window start for window stores). */
export interface DiffResult {
  readonly kind: 'store' | 'output';
  /** The store name or the output topic's name without its version suffix. */
  readonly name: string;
  readonly versionA: number;
  readonly versionB: number;
  readonly keysA: number;
  readonly keysB: number;
  readonly onlyA: number;
  readonly onlyB: number;
  readonly equal: number;
  readonly different: number;
  /** The fields compared (`--fields`), or undefined for every field. */
  readonly fields?: readonly string[];
  /** Up to `sample` differing keys, in key-byte order. */
  readonly sample: readonly DiffSample[];
}

/** Options of `diffVersions`. */
export interface DiffOptions {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly stateDir: string;
  readonly a: Topology;
  readonly b: Topology;
  /** A store name, or an output's name without `.v<N>` (e.g. `airport-delays-hourly`). */
  readonly what: string;
  /** Differing keys to show; default 10. */
  readonly sample?: number;
  /** Compare only these fields of record values. */
  readonly fields?: readonly string[];
}

/**
 * Diffs store or output `what` between versions `a` and `b`. Throws EddyError `UNKNOWN_DIFF_TARGET` listing the
 * stores and outputs both versions have, or `NO_STATE` when a version has no file of the store.
 */
export async function diffVersions(o: DiffOptions): Promise<DiffResult> {
  // an output's versioned topic name of either version names the output too (one naming rule with trace and tail)
  const suffix = /\.v(\d+)$/.exec(o.what);
  if (suffix !== undefined && suffix !== null && [o.a.version, o.b.version].includes(Number(suffix[1]))) {
    const bare = o.what.slice(0, -suffix[0].length);
    if (o.a.topics.get(outputTopic(bare, o.a.version))?.role === 'output') return diffVersions({ ...o, what: bare });
  }
  const sa = o.a.stores.get(o.what);
  const sb = o.b.stores.get(o.what);
  if (sa !== undefined && sb !== undefined) return diffStores(o);
  const ta = o.a.topics.get(outputTopic(o.what, o.a.version));
  const tb = o.b.topics.get(outputTopic(o.what, o.b.version));
  if (ta?.role === 'output' && tb?.role === 'output') return diffOutputs(o);
  const outputsOf = (t: Topology) =>
    [...t.topics.values()].filter((x) => x.role === 'output').map((x) => x.name.slice(0, -`.v${t.version}`.length));
  const common = [...o.a.stores.keys(), ...outputsOf(o.a)].filter(
    (n) => o.b.stores.has(n) || outputsOf(o.b).includes(n),
  );
  throw new EddyError(
    'UNKNOWN_DIFF_TARGET',
    `"${o.what}" is not a store or output of both ${o.a.name} v${o.a.version} and v${o.b.version}. Both have: ${common.join(', ') || '(nothing in common)'}.`,
    { details: { what: o.what } },
  );
}

/** Every task file of a store of one version: `<stateDir>/<topology>.v<N>/<task>/<store>.sqlite`, by task id. */
export function versionStoreFiles(stateDir: string, t: Topology, store: string): string[] {
  const dir = join(stateDir, t.groupId);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }))
    .map((task) => join(dir, task, `${store}.sqlite`))
    .filter((p) => existsSync(p));
}

/** Decodes Confluent-framed Avro bytes of one subject, preparing each writer schema id once. */
class Decoder {
  private readonly prepared = new Set<number>();
  private constructor(private readonly serde: AvroSerde<unknown>) {}

  static async create(registry: SchemaRegistry, subject: string, schema: AvroSchema): Promise<Decoder> {
    return new Decoder(await AvroSerde.create(registry, subject, schema));
  }

  /** The decoded value when its writer schema is prepared already, else undefined (then use `decode`). */
  decodeNow(bytes: Buffer): unknown {
    return this.prepared.has(AvroSerde.schemaIdOf(bytes)) ? this.serde.deserialize(bytes) : undefined;
  }

  async decode(bytes: Buffer): Promise<unknown> {
    const id = AvroSerde.schemaIdOf(bytes);
    if (!this.prepared.has(id)) {
      await this.serde.prepare([id]);
      this.prepared.add(id);
    }
    return this.serde.deserialize(bytes);
  }
}

/** The compared part of a value: the chosen fields of a record, else the whole value; as canonical JSON. */
function comparable(value: unknown, other: unknown, fields: readonly string[] | undefined): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return canonicalJson(value);
  const names = fields ?? [...new Set([...Object.keys(value), ...Object.keys((other ?? {}) as object)])];
  return canonicalJson(names.map((f) => [f, (value as Record<string, unknown>)[f] ?? null]));
}

function pick(value: unknown, fields: readonly string[] | undefined): unknown {
  if (fields === undefined || value === null || typeof value !== 'object') return value;
  return Object.fromEntries(fields.map((f) => [f, (value as Record<string, unknown>)[f]]));
}

async function diffStores(o: DiffOptions): Promise<DiffResult> {
  const infoA = o.a.stores.get(o.what)!;
  const infoB = o.b.stores.get(o.what)!;
  const filesOf = (t: Topology) => {
    const files = versionStoreFiles(o.stateDir, t, o.what);
    if (files.length === 0)
      throw new EddyError(
        'NO_STATE',
        `store "${o.what}" of ${t.name} v${t.version} has no state under ${o.stateDir}. Run or replay that version first.`,
        { details: { store: o.what, version: t.version } },
      );
    return files;
  };
  const filesA = filesOf(o.a);
  const filesB = filesOf(o.b);
  // Rows of one store file: the key's Avro body (k), the window start (ws; 0 in key-value stores), key and value bytes.
  const rowsOf = (kind: 'kv' | 'window') =>
    kind === 'window'
      ? 'SELECT substr(key, 6) AS k, window_start AS ws, key, value FROM src.win NOT INDEXED'
      : 'SELECT substr(key, 6) AS k, 0 AS ws, key, value FROM src.kv';
  const db = new Database(':memory:');
  try {
    // Both versions are copied into in-memory tables keyed like a store (a scan of an attached file joined in place
    // is planned through its window-start index, several times slower than the copy).
    for (const [side, files, kind] of [
      ['a', filesA, infoA.kind],
      ['b', filesB, infoB.kind],
    ] as const) {
      db.exec(
        `CREATE TABLE ${side} (k BLOB NOT NULL, ws INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (k, ws)) WITHOUT ROWID`,
      );
      for (const f of files) withAttached(db, f, () => db.exec(`INSERT OR REPLACE INTO ${side} ${rowsOf(kind)}`));
    }
    const c = db
      .prepare(
        'SELECT count(*) AS n, count(b.k) AS matched, coalesce(sum(a.value = b.value), 0) AS same FROM a LEFT JOIN b ON b.k = a.k AND b.ws = a.ws',
      )
      .get() as { n: number; matched: number; same: number };
    const keysA = c.n;
    const keysB = (db.prepare('SELECT count(*) AS n FROM b').get() as { n: number }).n;
    let equal = c.same;
    let different = 0;
    const keyDec = await Decoder.create(o.registry, `${infoA.changelog}-key`, infoA.keySchema);
    const valA = await Decoder.create(o.registry, `${infoA.changelog}-value`, infoA.valueSchema);
    const valB = await Decoder.create(o.registry, `${infoB.changelog}-value`, infoB.valueSchema);
    const sample: DiffSample[] = [];
    const rows = db
      .prepare(
        'SELECT a.key AS key, a.ws AS ws, a.value AS va, b.value AS vb FROM a JOIN b ON b.k = a.k AND b.ws = a.ws WHERE a.value <> b.value ORDER BY a.k, a.ws',
      )
      .iterate() as IterableIterator<{ key: Buffer; ws: number; va: Buffer; vb: Buffer }>;
    for (const r of rows) {
      const va = valA.decodeNow(r.va) ?? (await valA.decode(r.va));
      const vb = valB.decodeNow(r.vb) ?? (await valB.decode(r.vb));
      if (comparable(va, vb, o.fields) === comparable(vb, va, o.fields)) {
        equal++;
        continue;
      }
      different++;
      if (sample.length < (o.sample ?? 10))
        sample.push({
          key: await keyDec.decode(r.key),
          ...(infoA.kind === 'window' ? { windowStart: new Date(r.ws).toISOString() } : {}),
          a: pick(va, o.fields),
          b: pick(vb, o.fields),
        });
    }
    return {
      kind: 'store',
      name: o.what,
      versionA: o.a.version,
      versionB: o.b.version,
      keysA,
      keysB,
      onlyA: keysA - c.matched,
      onlyB: keysB - c.matched,
      equal,
      different,
      fields: o.fields,
      sample,
    };
  } finally {
    db.close();
  }
}

function withAttached(db: Database.Database, file: string, fn: () => void): void {
  db.prepare('ATTACH DATABASE ? AS src').run(file);
  try {
    fn();
  } finally {
    db.exec('DETACH DATABASE src');
  }
}

/** Latest decoded value per key (and window start) of one output topic. */
async function latestPerKey(
  o: DiffOptions,
  t: Topology,
): Promise<Map<string, { key: Buffer; ws?: number; value: unknown }>> {
  const topic = outputTopic(o.what, t.version);
  const info = t.topics.get(topic)!;
  const out = new Map<string, { key: Buffer; ws?: number; value: unknown }>();
  if ((await o.log.describeTopic(topic)) === undefined) return out;
  const dec = await Decoder.create(o.registry, `${topic}-value`, info.valueSchema!);
  for (const p of await o.log.offsets(topic)) {
    for await (const batch of o.log.read({ topic, partition: p.partition })) {
      for (const r of batch) {
        if (r.key === null) continue;
        const body = r.key.subarray(5);
        const value = r.value === null ? null : await dec.decode(r.value);
        const ws =
          value !== null &&
          typeof value === 'object' &&
          typeof (value as Record<string, unknown>).window_start === 'number'
            ? ((value as Record<string, unknown>).window_start as number)
            : undefined;
        const id = `${body.toString('latin1')}\u0000${ws ?? ''}`;
        if (value === null) out.delete(id);
        else out.set(id, { key: r.key, ws, value });
      }
    }
  }
  return out;
}

async function diffOutputs(o: DiffOptions): Promise<DiffResult> {
  const a = await latestPerKey(o, o.a);
  const b = await latestPerKey(o, o.b);
  const keyDec = await Decoder.create(
    o.registry,
    `${outputTopic(o.what, o.a.version)}-key`,
    o.a.topics.get(outputTopic(o.what, o.a.version))!.keySchema!,
  );
  let onlyA = 0;
  let equal = 0;
  let different = 0;
  const differing: { id: string; key: Buffer; ws?: number; a: unknown; b: unknown }[] = [];
  for (const [id, ea] of a) {
    const eb = b.get(id);
    if (eb === undefined) {
      onlyA++;
      continue;
    }
    if (comparable(ea.value, eb.value, o.fields) === comparable(eb.value, ea.value, o.fields)) equal++;
    else {
      different++;
      differing.push({ id, key: ea.key, ws: ea.ws, a: ea.value, b: eb.value });
    }
  }
  const onlyB = [...b.keys()].filter((id) => !a.has(id)).length;
  differing.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const sample: DiffSample[] = [];
  for (const d of differing.slice(0, o.sample ?? 10))
    sample.push({
      key: await keyDec.decode(d.key),
      ...(d.ws !== undefined ? { windowStart: new Date(d.ws).toISOString() } : {}),
      a: pick(d.a, o.fields),
      b: pick(d.b, o.fields),
    });
  return {
    kind: 'output',
    name: o.what,
    versionA: o.a.version,
    versionB: o.b.version,
    keysA: a.size,
    keysB: b.size,
    onlyA,
    onlyB,
    equal,
    different,
    fields: o.fields,
    sample,
  };
}
