/**
 * `eddy produce`: a user's own rows (JSON lines, JSON, CSV) onto a topic as Avro in the Confluent wire format,
 * partitioned exactly as eddy partitions (`partitionFor`: murmur2 over the serialized key), so that a topology reads
 * them as it reads any input.
 *
 * Order, so that a bad row writes nothing: parse every row, check every row against the value schema (and the key
 * and timestamp fields), and only then register the schemas, create the topic and append. `eddy produce` acts as the
 * topic's producer: it registers its value schema under `<topic>-value` (when given one) and its key schema under
 * `<topic>-key` (`"string"` when the subject has none), as a producer does; the subject's compatibility level
 * applies (an incompatible schema is refused before any record is written).
 */
import type { Type } from 'avsc';
import { ConfigError } from '../errors.js';
import type { Log, ProducerRecord } from '../log/contract.js';
import { partitionFor } from '../log/partitioner.js';
import { parseSchema } from '../schema/avro.js';
import { AvroSerde } from '../schema/avro-serde.js';
import type { AvroSchema, SchemaRegistry } from '../schema/types.js';
import { topicConfigFor } from '../topology/topic-config.js';
import { RowInvalidError } from './errors.js';
import { coerce, type InputRow, problemsOf } from './rows.js';

/** Options of `produce`. */
export interface ProduceOptions {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly topic: string;
  /** The parsed input rows (`parseRows`). */
  readonly rows: readonly InputRow[];
  /** Where the rows came from (a file path or `stdin`), for messages. */
  readonly source: string;
  /** The field holding the key; without it records have a null key and go to partition 0. */
  readonly keyField?: string;
  /**
   * The field holding the event time: ms since epoch (a number or numeric text) or an ISO-8601 time. Without it,
   * each record's timestamp is the time of the run (`nowMs`).
   */
  readonly timestampField?: string;
  /** The value schema; default: the latest version registered under `<topic>-value`. */
  readonly valueSchema?: AvroSchema;
  /** Partitions of the topic when it is created (default 4); an existing topic keeps its own. */
  readonly partitions?: number;
  /** Records per append (default 5,000). */
  readonly batchRecords?: number;
  /**
   * Create a missing topic compacted (`cleanup.policy=compact`, no time retention), as a table's topic is (a KTable or
   * global table reads the latest value per key). An existing topic keeps its configs.
   */
  readonly compacted?: boolean;
  /**
   * Called before anything is written when event time goes backwards for more than `LATE_SHARE_WARNING` of the
   * records of a partition (the late-record trap: stream time is the largest event time seen per partition).
   */
  readonly onWarning?: (message: string) => void;
  /** Timestamp of records without a timestamp field, ms since epoch (default `Date.now()`). */
  readonly nowMs?: number;
  /** Called after each append: records written so far, and the total. */
  readonly onProgress?: (written: number, total: number) => void;
}

/** What `produce` did. */
export interface ProduceResult {
  readonly topic: string;
  readonly records: number;
  readonly partitions: number;
  /** True when the topic was created by this call. */
  readonly created: boolean;
  /** Records per partition. */
  readonly perPartition: readonly number[];
  /** The subjects written with, their schema ids, and whether this call added a version to the subject. */
  readonly subjects: readonly { subject: string; id: number; registered: boolean }[];
}

/** Share of a partition's records behind its largest earlier event time above which `produce` warns (1 %). */
export const LATE_SHARE_WARNING = 0.01;

/** A checked row, ready to serialize. */
interface Checked {
  key: unknown;
  value: unknown;
  timestampMs: number;
}

/**
 * Checks every row, then registers the schemas, creates the topic if missing (`topicConfigFor('source')`: no time
 * retention) and appends the records (outside a transaction: at-least-once, as any producer; running it twice
 * appends twice).
 * @throws ConfigError when no value schema is given and `<topic>-value` has none registered;
 *   RowInvalidError naming the first bad row and its fields (nothing registered or written);
 *   IncompatibleSchemaError when the subject refuses the schema (nothing written).
 */
export async function produce(o: ProduceOptions): Promise<ProduceResult> {
  const valueSubject = `${o.topic}-value`;
  const keySubject = `${o.topic}-key`;
  let valueSchema = o.valueSchema;
  if (valueSchema === undefined) {
    valueSchema = (await o.registry.getLatest(valueSubject))?.schema;
    if (valueSchema === undefined)
      throw new ConfigError(
        `No value schema for topic "${o.topic}": subject "${valueSubject}" has no registered version. Pass --value-schema (a name in schemas/ or a path to an .avsc file).`,
        { topic: o.topic, subject: valueSubject },
      );
  }
  const keySchema: AvroSchema = (await o.registry.getLatest(keySubject))?.schema ?? 'string';
  const valueType = parseSchema(valueSchema, `for subject "${valueSubject}"`);
  const keyType = parseSchema(keySchema, `for subject "${keySubject}"`);
  const nowMs = o.nowMs ?? Date.now();

  const checked: Checked[] = o.rows.map((r) => checkRow(o, r, keyType, valueType, nowMs));

  const subjects: { subject: string; id: number; registered: boolean }[] = [];
  const serdes: AvroSerde<unknown>[] = [];
  for (const [subject, schema] of [
    [keySubject, keySchema],
    [valueSubject, valueSchema],
  ] as const) {
    const before = (await o.registry.listVersions(subject)).length;
    const serde = await AvroSerde.create<unknown>(o.registry, subject, schema);
    const after = (await o.registry.listVersions(subject)).length;
    subjects.push({ subject, id: serde.schemaId, registered: after > before });
    serdes.push(serde);
  }
  const [keySerde, valueSerde] = serdes;

  let created = false;
  let partitions = (await o.log.describeTopic(o.topic))?.partitions;
  if (partitions === undefined) {
    await o.log.createTopics([
      {
        name: o.topic,
        partitions: o.partitions ?? 4,
        compacted: o.compacted === true,
        config: topicConfigFor(o.compacted === true ? 'global' : 'source'),
      },
    ]);
    partitions = (await o.log.describeTopic(o.topic))!.partitions;
    created = true;
  }

  const placed = checked.map((c) => {
    const key = c.key === null ? null : keySerde.serialize(c.key);
    return { c, key, partition: partitionFor(key, partitions) };
  });
  if (o.timestampField !== undefined) {
    const warning = backwardsInTime(placed, partitions, o);
    if (warning !== undefined) o.onWarning?.(warning);
  }
  const perPartition = new Array<number>(partitions).fill(0);
  const batchRecords = o.batchRecords ?? 5_000;
  const producer = o.log.producer();
  let written = 0;
  try {
    for (let i = 0; i < checked.length; i += batchRecords) {
      const batch: ProducerRecord[] = [];
      for (const { c, key, partition } of placed.slice(i, i + batchRecords)) {
        perPartition[partition]++;
        batch.push({ topic: o.topic, partition, key, value: valueSerde.serialize(c.value), timestamp: c.timestampMs });
      }
      await producer.send(batch);
      written += batch.length;
      o.onProgress?.(written, checked.length);
    }
  } finally {
    await producer.close();
  }
  return { topic: o.topic, records: written, partitions, created, perPartition, subjects };
}

/**
 * The warning when, in some partition, more than `LATE_SHARE_WARNING` of the records have an event time below the
 * largest one before them in that partition: a windowed topology reading them drops those outside its grace as late.
 */
function backwardsInTime(
  placed: readonly { c: Checked; partition: number }[],
  partitions: number,
  o: ProduceOptions,
): string | undefined {
  const maxSeen = new Array<number>(partitions).fill(Number.NEGATIVE_INFINITY);
  const back = new Array<number>(partitions).fill(0);
  const total = new Array<number>(partitions).fill(0);
  for (const { c, partition } of placed) {
    total[partition]++;
    if (c.timestampMs < maxSeen[partition]) back[partition]++;
    else maxSeen[partition] = c.timestampMs;
  }
  const bad = back
    .map((n, p) => ({ p, n, share: total[p] === 0 ? 0 : n / total[p] }))
    .filter((x) => x.share > LATE_SHARE_WARNING);
  if (bad.length === 0) return undefined;
  const worst = bad.reduce((a, b) => (b.share > a.share ? b : a));
  return `${o.source}: event time (${o.timestampField}) goes backwards for ${back.reduce((a, b) => a + b, 0)} of ${placed.length} records (${(100 * worst.share).toFixed(1)} % of partition ${worst.p}; ${bad.length} partition(s) over ${100 * LATE_SHARE_WARNING} %). Windows close on the largest event time seen per partition, so such records arrive late and are dropped past the grace. Sort the input by ${o.timestampField} (as time, not as text) before producing, or widen the grace.`;
}

function checkRow(o: ProduceOptions, r: InputRow, keyType: Type, valueType: Type, nowMs: number): Checked {
  const problems: { field: string; problem: string }[] = [];
  const value = coerce(valueType, r.fields, r.fromText);
  problems.push(...problemsOf(valueType, value, '(value)'));
  let key: unknown = null;
  if (o.keyField !== undefined) {
    const raw = r.fields[o.keyField];
    if (raw === undefined || raw === null || raw === '')
      problems.push({ field: o.keyField, problem: 'is missing (it is the --key-field)' });
    else {
      key = coerce(keyType, raw, r.fromText);
      for (const p of problemsOf(keyType, key, o.keyField))
        problems.push({ field: o.keyField, problem: `(the key) ${p.problem}` });
    }
  }
  let timestampMs = nowMs;
  if (o.timestampField !== undefined) {
    const raw = r.fields[o.timestampField];
    const ms = timestampOf(raw);
    if (ms === undefined)
      problems.push({
        field: o.timestampField,
        problem: `(the --timestamp-field) must be ms since epoch or an ISO-8601 time, got ${JSON.stringify(raw) ?? 'nothing'}`,
      });
    else timestampMs = ms;
  }
  if (problems.length > 0) throw new RowInvalidError(o.source, r.row, problems, r.line);
  return { key, value, timestampMs };
}

/** ms since epoch from a number, numeric text or an ISO-8601 time; undefined when it is none of these. */
export function timestampOf(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? raw : undefined;
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  if (/^\s*-?\d+\s*$/.test(raw)) return Number(raw);
  const ms = Date.parse(raw);
  return Number.isNaN(ms) ? undefined : ms;
}
