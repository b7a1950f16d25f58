/**
 * The records a task writes besides changelogs: outputs (and repartition records) with provenance headers, and dead
 * letters. Poison records never wedge a task: an output the broker would refuse for its size dead-letters the input
 * record that made it, and a dead letter too large for the dead-letter topic keeps its provenance, size and reason
 * without the original bytes (Kafka Streams' `ProductionExceptionHandler` boundary, decided before sending, so the
 * transaction is not lost).
 */
import type { Headers, LogRecord, ProducerRecord } from '../log/contract.js';
import { partitionFor } from '../log/partitioner.js';
import type { Flowing, Origin } from '../processors/context.js';
import type { Topology } from '../topology/graph.js';
import { HEADERS, type TopologySerdes } from './serdes.js';
import { type RunStats, valueFieldNames } from './stats.js';

/** Longest dead-letter reason kept, in characters (a reason may quote a huge field). */
export const MAX_REASON_CHARS = 1_000;
/** Bytes a record batch adds around one record (batch header and record framing), a safe overestimate. */
const RECORD_OVERHEAD_BYTES = 128;
/** Header carrying the original size of a dead letter whose key and value were too large to keep, bytes. */
export const DLQ_ORIGINAL_BYTES = 'eddy.dlq.original-bytes';

/** What the writer needs from its task. */
export interface RecordWriterDeps {
  readonly topology: Topology;
  readonly serdes: TopologySerdes;
  readonly stats: RunStats;
  readonly partitionsOf: (topic: string) => number;
  /** The largest record batch a topic accepts (`max.message.bytes`), bytes; undefined = no limit. */
  readonly maxRecordBytes: (topic: string) => number | undefined;
}

/** The size of a record on the wire, bytes (an overestimate of Kafka's record batch of one record). */
export function recordBytes(r: Pick<ProducerRecord, 'key' | 'value' | 'headers'>): number {
  let n = RECORD_OVERHEAD_BYTES + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const [k, v] of Object.entries(r.headers ?? {})) n += Buffer.byteLength(k) + v.length + 8;
  return n;
}

/** Collects a batch's outputs and dead letters. */
export class RecordWriter {
  /** The batch's records so far, in send order. */
  readonly pending: ProducerRecord[] = [];
  /** The batch's output values (not repartition records), for the null counts once the batch committed. */
  readonly outputValues: { topic: string; value: unknown }[] = [];
  private readonly fieldsOf = new Map<string, readonly string[]>();
  private readonly provenanceTopic: Buffer;
  private readonly headerBytes = new Map<string, Buffer>();

  constructor(private readonly d: RecordWriterDeps) {
    this.provenanceTopic = Buffer.from(d.topology.groupId);
  }

  /** Serializes and partitions an output record; one over the topic's size limit dead-letters `rec` instead. */
  send(topic: string, rec: Flowing): void {
    const serdes = this.d.serdes.topic(topic);
    const key = rec.key === null || rec.key === undefined ? null : serdes.key.serialize(rec.key);
    const out: ProducerRecord = {
      topic,
      partition: partitionFor(key, this.d.partitionsOf(topic)),
      key,
      value: rec.value === null ? null : serdes.value.serialize(rec.value), // a null value is a tombstone
      headers: this.provenance(rec.origin, {}),
      timestamp: rec.timestamp,
    };
    const limit = this.d.maxRecordBytes(topic);
    const size = limit === undefined ? 0 : recordBytes(out);
    if (limit !== undefined && size > limit) {
      this.deadLetter(
        rec.raw,
        'produce',
        `record for ${topic} is ${size} bytes, over the topic's max.message.bytes of ${limit}`,
        rec.origin,
      );
      return;
    }
    this.pending.push(out);
    if (this.d.topology.topics.get(topic)?.role === 'output') this.outputValues.push({ topic, value: rec.value });
  }

  /** After the batch committed: counts null fields per output (a data-health metric); clears the batch's values. */
  countCommitted(): void {
    for (const { topic, value } of this.outputValues) {
      let fields = this.fieldsOf.get(topic);
      if (fields === undefined) {
        fields = valueFieldNames(this.d.topology.topics.get(topic)?.valueSchema);
        this.fieldsOf.set(topic, fields);
      }
      this.d.stats.nullFields(topic, value, fields);
    }
    this.outputValues.length = 0;
  }

  /** After an abort: forgets the batch. */
  clear(): void {
    this.pending.length = 0;
    this.outputValues.length = 0;
  }

  /**
   * Sends the original bytes of `raw` to the dead-letter topic with the reason (cut to `MAX_REASON_CHARS`), the
   * processor and the input offset that made it. Over the dead-letter topic's size limit, the key and value are left
   * out and `eddy.dlq.original-bytes` says how large they were.
   */
  deadLetter(raw: LogRecord, processor: string, reason: string, origin?: Origin): void {
    const dlq = this.d.topology.deadLetterTopic;
    const why =
      reason.length > MAX_REASON_CHARS
        ? `${reason.slice(0, MAX_REASON_CHARS)}... (${reason.length} characters)`
        : reason;
    const headers: Headers = {};
    for (const [k, v] of Object.entries(raw.headers)) if (!k.startsWith('eddy.')) headers[k] = v;
    headers[HEADERS.dlqReason] = Buffer.from(why);
    headers[HEADERS.dlqProcessor] = Buffer.from(processor);
    const rec: ProducerRecord = {
      topic: dlq,
      partition: raw.partition % this.d.partitionsOf(dlq),
      key: raw.key,
      value: raw.value,
      headers: this.provenance(origin ?? { topic: raw.topic, partition: raw.partition, offset: raw.offset }, headers),
      timestamp: raw.timestamp,
    };
    const limit = this.d.maxRecordBytes(dlq);
    if (limit !== undefined && recordBytes(rec) > limit) {
      const original = (raw.key?.length ?? 0) + (raw.value?.length ?? 0);
      for (const k of Object.keys(headers)) if (!k.startsWith('eddy.')) delete headers[k];
      headers[DLQ_ORIGINAL_BYTES] = Buffer.from(String(original));
      this.pending.push({ ...rec, key: null, value: null, headers });
    } else this.pending.push(rec);
    this.d.stats.deadLetter(processor);
  }

  private provenance(origin: Origin, base: Headers): Headers {
    base[HEADERS.sourceTopic] = this.bytesOf(origin.topic);
    base[HEADERS.sourcePartition] = this.bytesOf(String(origin.partition));
    base[HEADERS.sourceOffset] = Buffer.from(String(origin.offset));
    base[HEADERS.topology] = this.provenanceTopic;
    return base;
  }

  /** Topic names and partition numbers repeat on every record: encode each once. */
  private bytesOf(s: string): Buffer {
    let b = this.headerBytes.get(s);
    if (b === undefined) {
      b = Buffer.from(s);
      if (this.headerBytes.size < 10_000) this.headerBytes.set(s, b);
    }
    return b;
  }
}
