/**
 * What `eddy sql` exposes, gathered before any query runs (the async part: registry, log, file system): per table, the
 * store files to read and the Avro schemas to decode them with, or, for a topic, its rows (latest value per key).
 * A plan is plain data (structured-cloneable), so a worker thread can run a query over it (`./run.ts`).
 */
import { EddyError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { storeFiles } from '../runtime/inspect.js';
import type { AvroSchema, SchemaRegistry } from '../schema/types.js';
import type { StoreInfo, Topology } from '../topology/graph.js';

/** How to decode one part (key or value) of a table's records: the reader schema and the writer schemas by id. */
export interface DecoderPlan {
  readonly subject: string;
  readonly reader: AvroSchema;
  /** Registered schema id → writer schema, for every version of the subject. */
  readonly writers: Readonly<Record<number, AvroSchema>>;
}

/** SQLite column type (affinity) of a decoded field. */
export type SqlType = 'INTEGER' | 'REAL' | 'TEXT' | 'BLOB' | 'JSON';

/** One column of a table. `source` says where its value comes from. */
export interface ColumnPlan {
  readonly name: string;
  readonly type: SqlType;
  readonly source:
    | { readonly part: 'key' }
    | { readonly part: 'value'; readonly field?: string }
    | { readonly part: 'window_start' | 'window_end' }
    | { readonly part: 'partition' | 'offset' | 'timestamp' };
}

/** A table over a store (all its task files) or over a topic (latest value per key, decoded in the plan). */
export interface TablePlan {
  /** SQL names of the table (the first is its main name; the others are views over it). */
  readonly names: readonly string[];
  readonly kind: 'kv' | 'window' | 'topic';
  /** `<topology>.v<N>/<store>`, or the topic name. */
  readonly describe: string;
  readonly columns: readonly ColumnPlan[];
  readonly files: readonly string[];
  readonly windowSizeMs?: number;
  /** Session stores: a window's end is the value's `endMs` (see `windowEndMs` in src/topology/graph.ts). */
  readonly windowEndInValue?: boolean;
  readonly key: DecoderPlan;
  readonly value: DecoderPlan;
  /** Topic tables: the latest record per key (tombstones removed), in key order. */
  readonly records?: readonly {
    key: Buffer | null;
    value: Buffer;
    partition: number;
    offset: number;
    timestamp: number;
  }[];
}

export interface SqlPlan {
  readonly tables: readonly TablePlan[];
  /** Lines for the user: versions whose code differs from what their stores were written with (read as recorded). */
  readonly notes?: readonly string[];
}

/** The SQLite type of an Avro schema: numbers, text, bytes; records, arrays and maps as JSON text. */
export function sqlTypeOf(schema: AvroSchema): SqlType {
  if (Array.isArray(schema)) {
    const nonNull = schema.filter((s) => s !== 'null');
    return nonNull.length === 1 ? sqlTypeOf(nonNull[0] as AvroSchema) : 'JSON';
  }
  const type = typeof schema === 'string' ? schema : (schema as { type?: unknown }).type;
  if (typeof schema === 'object' && schema !== null && (schema as { logicalType?: string }).logicalType === 'decimal')
    return 'JSON';
  switch (type) {
    case 'int':
    case 'long':
    case 'boolean':
      return 'INTEGER';
    case 'float':
    case 'double':
      return 'REAL';
    case 'string':
    case 'enum':
      return 'TEXT';
    case 'bytes':
    case 'fixed':
      return 'BLOB';
    default:
      return 'JSON';
  }
}

function fieldsOf(schema: AvroSchema): { name: string; type: AvroSchema }[] | undefined {
  if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
    const s = schema as { type?: unknown; fields?: { name: string; type: AvroSchema }[] };
    if (s.type === 'record' && Array.isArray(s.fields)) return s.fields;
  }
  return undefined;
}

/**
 * The columns of a store or topic table, in the order `eddy inspect` prints them: the key under `keyName`, then
 * `window_start`/`window_end` (window stores), then the value's fields (a field of the same name as an earlier
 * column replaces it in place, as in `inspect`); a value that is not a record is one column `value`.
 */
export function columnsOf(
  keyName: string,
  keySchema: AvroSchema,
  valueSchema: AvroSchema,
  kind: TablePlan['kind'],
): ColumnPlan[] {
  const cols: ColumnPlan[] = [{ name: keyName, type: sqlTypeOf(keySchema), source: { part: 'key' } }];
  if (kind === 'window')
    for (const part of ['window_start', 'window_end'] as const)
      cols.push({ name: part, type: 'TEXT', source: { part } });
  const fields = fieldsOf(valueSchema);
  const add = (c: ColumnPlan) => {
    const i = cols.findIndex((x) => x.name === c.name);
    if (i >= 0) cols[i] = c;
    else cols.push(c);
  };
  if (fields === undefined) add({ name: 'value', type: sqlTypeOf(valueSchema), source: { part: 'value' } });
  else for (const f of fields) add({ name: f.name, type: sqlTypeOf(f.type), source: { part: 'value', field: f.name } });
  if (kind === 'topic')
    for (const part of ['partition', 'offset', 'timestamp'] as const)
      if (!cols.some((c) => c.name === part)) cols.push({ name: part, type: 'INTEGER', source: { part } });
  return cols;
}

async function decoderOf(registry: SchemaRegistry, subject: string, reader: AvroSchema): Promise<DecoderPlan> {
  const writers: Record<number, AvroSchema> = {};
  for (const v of await registry.listVersions(subject)) {
    const r = await registry.getVersion(subject, v);
    if (r !== undefined) writers[r.id] = r.schema;
  }
  return { subject, reader, writers };
}

/** The plan of one store of one topology version, named `names`. */
export async function storeTablePlan(
  registry: SchemaRegistry,
  stateDir: string,
  t: Topology,
  info: StoreInfo,
  names: readonly string[],
): Promise<TablePlan> {
  return {
    names,
    kind: info.kind,
    describe: `${t.groupId}/${info.name}`,
    columns: columnsOf(info.keyName, info.keySchema, info.valueSchema, info.kind),
    files: storeFiles(stateDir, t, info.name).map((f) => f.path),
    windowSizeMs: info.windows?.type === 'sliding' ? info.windows.timeDifferenceMs : info.window?.sizeMs,
    ...(info.windows?.type === 'session' && { windowEndInValue: true }),
    key: await decoderOf(registry, `${info.changelog}-key`, info.keySchema),
    value: await decoderOf(registry, `${info.changelog}-value`, info.valueSchema),
  };
}

/**
 * The plan of the stores of `versions`: each store as `<store>_v<N>`, and, for the `main` version of each topology,
 * also as `<store>`.
 */
export async function storesPlan(
  registry: SchemaRegistry,
  stateDir: string,
  versions: readonly { topology: Topology; main: boolean }[],
): Promise<TablePlan[]> {
  const out: TablePlan[] = [];
  for (const { topology: t, main } of versions)
    for (const info of t.stores.values()) {
      const names = [`${info.name}_v${t.version}`];
      if (main) names.unshift(info.name);
      out.push(await storeTablePlan(registry, stateDir, t, info, names));
    }
  return out;
}

/**
 * The plan of a topic: its latest record per key (a null value deletes the key, as compaction does), decoded with
 * the latest schemas of its subjects `<topic>-key` and `<topic>-value`. Reads the whole topic (committed records).
 * Throws `UnknownTopicError` for a missing topic and `SqlTopicSchemaError` when its value subject has no schema.
 */
export async function topicTablePlan(log: Log, registry: SchemaRegistry, topic: string): Promise<TablePlan> {
  const offsets = await log.offsets(topic);
  const latest = new Map<string, NonNullable<TablePlan['records']>[number]>();
  let seq = 0;
  for (const o of offsets)
    for await (const batch of log.read({ topic, partition: o.partition }))
      for (const r of batch) {
        const k = r.key === null ? `#${seq++}` : r.key.toString('base64');
        if (r.value === null) latest.delete(k);
        else
          latest.set(k, {
            key: r.key,
            value: r.value,
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
          });
      }
  const schemaOf = async (subject: string): Promise<AvroSchema | undefined> => {
    const versions = await registry.listVersions(subject);
    if (versions.length === 0) return undefined;
    return (await registry.getVersion(subject, Math.max(...versions)))?.schema;
  };
  const valueSchema = await schemaOf(`${topic}-value`);
  if (valueSchema === undefined) throw new SqlTopicSchemaError(topic);
  const keySchema = (await schemaOf(`${topic}-key`)) ?? 'bytes';
  return {
    names: [topic],
    kind: 'topic',
    describe: topic,
    columns: columnsOf('key', keySchema, valueSchema, 'topic'),
    files: [],
    key: await decoderOf(registry, `${topic}-key`, keySchema),
    value: await decoderOf(registry, `${topic}-value`, valueSchema),
    records: [...latest.values()],
  };
}

/** `--topic T` names a topic whose values have no schema in the registry. */
export class SqlTopicSchemaError extends EddyError {
  constructor(topic: string) {
    super(
      'SQL_TOPIC_SCHEMA',
      `topic ${topic} has no schema under subject ${topic}-value in the schema registry, so its values cannot be decoded into columns; name a topic eddy or its producer registered (eddy topics lists them)`,
      { details: { topic } },
    );
  }
}
