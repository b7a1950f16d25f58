import { EddyError } from '../errors.js';
import type { LogRecord } from '../log/contract.js';
import type { Flowing } from '../processors/context.js';
import { AvroSerde } from '../schema/avro-serde.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';

/** Header names eddy writes. Provenance headers make every output traceable to the input offset that made it. */
export const HEADERS = {
  sourceTopic: 'eddy.source.topic',
  sourcePartition: 'eddy.source.partition',
  sourceOffset: 'eddy.source.offset',
  topology: 'eddy.topology',
  dlqReason: 'eddy.dlq.reason',
  dlqProcessor: 'eddy.dlq.processor',
} as const;

/** A key and a value serde. */
export interface SerdePair {
  readonly key: AvroSerde<unknown>;
  readonly value: AvroSerde<unknown>;
}

/**
 * The Avro serdes of one topology version: one key/value pair per topic that carries typed records (subjects
 * `<topic>-key` / `<topic>-value`, Confluent's TopicNameStrategy) and per state store (its changelog's subjects).
 * Creating it registers every schema, so an incompatible schema stops the run before anything is written.
 */
export class TopologySerdes {
  private readonly prepared = new Set<string>();

  private constructor(
    private readonly topics: Map<string, SerdePair>,
    private readonly stores: Map<string, SerdePair>,
  ) {}

  /** Registers the schemas of every topic and store of `t`. Throws `IncompatibleSchemaError` before any write. */
  static async create(t: Topology, registry: SchemaRegistry): Promise<TopologySerdes> {
    const topics = new Map<string, SerdePair>();
    for (const info of t.topics.values()) {
      if (info.keySchema === undefined || info.valueSchema === undefined || info.role === 'changelog') continue;
      topics.set(info.name, {
        key: await AvroSerde.create(registry, `${info.name}-key`, info.keySchema),
        value: await AvroSerde.create(registry, `${info.name}-value`, info.valueSchema),
      });
    }
    const stores = new Map<string, SerdePair>();
    for (const s of t.stores.values()) {
      stores.set(s.name, {
        key: await AvroSerde.create(registry, `${s.changelog}-key`, s.keySchema),
        value: await AvroSerde.create(registry, `${s.changelog}-value`, s.valueSchema),
      });
    }
    return new TopologySerdes(topics, stores);
  }

  /** The serdes of a topic. Throws if the topic carries no typed records. */
  topic(name: string): SerdePair {
    const s = this.topics.get(name);
    if (s === undefined)
      throw new EddyError('NO_SERDE', `topic "${name}" has no schemas in this topology`, { details: { topic: name } });
    return s;
  }

  /** The serdes of a state store. */
  store(name: string): SerdePair {
    const s = this.stores.get(name);
    if (s === undefined)
      throw new EddyError('NO_SERDE', `store "${name}" has no schemas in this topology`, { details: { store: name } });
    return s;
  }

  /**
   * Decodes a batch read from `topic`: fetches any writer schema not seen yet (one registry round trip per new id),
   * then decodes each record synchronously. Records that cannot be decoded come back in `bad` with the reason.
   */
  async decode(
    topic: string,
    records: readonly LogRecord[],
  ): Promise<{ ok: Flowing[]; bad: { raw: LogRecord; reason: string }[] }> {
    const serdes = this.topic(topic);
    const keyIds = new Set<number>();
    const valueIds = new Set<number>();
    for (const r of records) {
      if (r.key !== null && r.key.length >= 5 && r.key[0] === 0) keyIds.add(r.key.readInt32BE(1));
      if (r.value !== null && r.value.length >= 5 && r.value[0] === 0) valueIds.add(r.value.readInt32BE(1));
    }
    const ok: Flowing[] = [];
    const bad: { raw: LogRecord; reason: string }[] = [];
    const unprepared = new Map<string, string>();
    // One id at a time, so that one unknown id dead-letters only its records, not the batch.
    for (const [serde, ids] of [
      [serdes.key, keyIds],
      [serdes.value, valueIds],
    ] as const) {
      for (const id of ids)
        if (!this.prepared.has(`${serde.subject}/${id}`)) {
          try {
            await serde.prepare([id]);
            this.prepared.add(`${serde.subject}/${id}`);
          } catch (err) {
            // the records with this id are dead-lettered below, with this reason
            unprepared.set(`${serde.subject}/${id}`, err instanceof Error ? err.message : String(err));
          }
        }
    }
    for (const raw of records) {
      try {
        if (raw.key === null) throw new Error('record has no key');
        if (raw.value === null) throw new Error('record is a tombstone (null value) on a stream topic');
        ok.push({
          key: serdes.key.deserialize(raw.key),
          value: serdes.value.deserialize(raw.value),
          timestamp: raw.timestamp,
          headers: raw.headers,
          raw,
          origin: originOf(raw),
        });
      } catch (err) {
        const why =
          (raw.key !== null &&
            raw.key.length >= 5 &&
            unprepared.get(`${serdes.key.subject}/${raw.key.readInt32BE(1)}`)) ||
          (raw.value !== null &&
            raw.value.length >= 5 &&
            unprepared.get(`${serdes.value.subject}/${raw.value.readInt32BE(1)}`)) ||
          (err instanceof Error ? err.message : String(err));
        bad.push({ raw, reason: `deserialization failed: ${why}` });
      }
    }
    return { ok, bad };
  }
}

/** The input offset that made a record: its own position, or the one carried in `eddy.source.*` headers. */
export function originOf(raw: LogRecord): { topic: string; partition: number; offset: number } {
  const t = raw.headers[HEADERS.sourceTopic];
  if (t !== undefined) {
    return {
      topic: t.toString(),
      partition: Number(raw.headers[HEADERS.sourcePartition]?.toString() ?? -1),
      offset: Number(raw.headers[HEADERS.sourceOffset]?.toString() ?? -1),
    };
  }
  return { topic: raw.topic, partition: raw.partition, offset: raw.offset };
}
