import { EddyError, SerdeError } from '../errors.js';
import type { LogRecord } from '../log/contract.js';
import type { Flowing } from '../processors/context.js';
import { AvroSerde, HEADER_SIZE } from '../schema/avro-serde.js';
import { StoreSchemaError, UnreadableInputSchemaError } from '../schema/errors.js';
import { checkReader } from '../schema/reader-check.js';
import type { AvroSchema, SchemaRegistry } from '../schema/types.js';
import type { Serde } from '../state/stores.js';
import type { TopicRole, Topology } from '../topology/graph.js';

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

/** The key and value serdes of a state store, as `Serde`s (src/state): errors name the store. */
export interface StoreSerdePair {
  readonly key: Serde<unknown>;
  readonly value: Serde<unknown>;
}

/** Roles of the topics eddy writes, and so registers schemas for. Inputs and global tables are read only. */
const WRITTEN: ReadonlySet<TopicRole> = new Set<TopicRole>(['output', 'repartition', 'dlq']);

/**
 * A store serde: decoding resolves any writer schema registered under the changelog's subject (prepared when the
 * serdes were created) to the store's schema; a value that cannot be resolved throws `StoreSchemaError` naming the
 * store and saying to bump the version.
 */
class StoreSerde implements Serde<unknown> {
  constructor(
    private readonly store: string,
    private readonly serde: AvroSerde<unknown>,
  ) {}

  serialize(value: unknown): Buffer {
    return this.serde.serialize(value);
  }

  deserialize(bytes: Buffer): unknown {
    try {
      return this.serde.deserialize(bytes);
    } catch (err) {
      const id = bytes.length >= HEADER_SIZE && bytes[0] === 0 ? bytes.readInt32BE(1) : undefined;
      throw new StoreSchemaError(this.store, this.serde.subject, id, (err as Error).message, err);
    }
  }
}

/**
 * The Avro serdes of one topology version: one key/value pair per topic that carries typed records (subjects
 * `<topic>-key` / `<topic>-value`, Confluent's TopicNameStrategy) and per state store (its changelog's subjects).
 *
 * Registration policy: eddy registers only the subjects it writes (outputs, repartition topics, dead-letter topics,
 * changelogs). The subjects of the topics it only reads (inputs, global tables) belong to their producers: eddy
 * registers nothing there, and checks instead that its reader schema can read every registered version
 * (`checkReader`). Every record is decoded with the writer schema named by its schema id, resolved to the schema the
 * topology declares (Avro schema resolution), with one resolver per (writer id, reader schema).
 */
export class TopologySerdes {
  private constructor(
    private readonly topics: Map<string, SerdePair>,
    private readonly stores: Map<string, StoreSerdePair>,
    /** Topics read as tables (`t.table`): a null value is a tombstone, a null key goes to the table's processor. */
    private readonly tables: ReadonlySet<string> = new Set(),
  ) {}

  /**
   * Checks its reader schemas against the subjects of the topics it only reads and its store schemas against every
   * version registered under their changelogs' subjects, then registers the schemas of the topics `t` writes and of
   * its stores' changelogs, and prepares the resolvers of every version registered under each changelog subject
   * (store values are decoded synchronously).
   * @throws UnreadableInputSchemaError (an input's reader schema cannot read a registered version) or
   *   StoreSchemaError (a changelog subject has a version the store's schema cannot read: bump the version), before
   *   anything is registered; IncompatibleSchemaError when a written subject rejects the schema.
   */
  static async create(t: Topology, registry: SchemaRegistry): Promise<TopologySerdes> {
    const typed = [...t.topics.values()].filter(
      (info) => info.keySchema !== undefined && info.valueSchema !== undefined && info.role !== 'changelog',
    );
    // Check every reader first, so that a refusal leaves nothing registered.
    for (const info of typed) {
      if (WRITTEN.has(info.role)) continue;
      for (const [part, schema] of [
        ['key', info.keySchema],
        ['value', info.valueSchema],
      ] as const) {
        const subject = `${info.name}-${part}`;
        const problems = await checkReader(registry, subject, schema as AvroSchema);
        if (problems.length > 0)
          throw new UnreadableInputSchemaError(
            info.name,
            subject,
            problems.map((p) => p.reason),
          );
      }
    }
    // A store whose changelog holds records under a schema its schema cannot read is refused, not read.
    for (const s of t.stores.values()) {
      for (const [part, schema] of [
        ['key', s.keySchema],
        ['value', s.valueSchema],
      ] as const) {
        const reader = await AvroSerde.reader(registry, `${s.changelog}-${part}`, schema);
        const bad = (await reader.prepareSubject()).find((v) => v.problem !== undefined);
        if (bad) {
          throw new StoreSchemaError(s.name, reader.subject, bad.id, `version ${bad.version}: ${bad.problem}`);
        }
      }
    }
    const topics = new Map<string, SerdePair>();
    for (const info of typed) {
      const make = WRITTEN.has(info.role) ? AvroSerde.create : AvroSerde.reader;
      topics.set(info.name, {
        key: await make(registry, `${info.name}-key`, info.keySchema as AvroSchema),
        value: await make(registry, `${info.name}-value`, info.valueSchema as AvroSchema),
      });
    }
    const stores = new Map<string, StoreSerdePair>();
    for (const s of t.stores.values()) {
      const key = await AvroSerde.create(registry, `${s.changelog}-key`, s.keySchema);
      const value = await AvroSerde.create(registry, `${s.changelog}-value`, s.valueSchema);
      await key.prepareSubject();
      await value.prepareSubject();
      stores.set(s.name, { key: new StoreSerde(s.name, key), value: new StoreSerde(s.name, value) });
    }
    const tables = new Set([...t.topics.values()].filter((i) => i.role === 'source' && i.compacted).map((i) => i.name));
    return new TopologySerdes(topics, stores, tables);
  }

  /** The serdes of a topic. Throws if the topic carries no typed records. */
  topic(name: string): SerdePair {
    const s = this.topics.get(name);
    if (s === undefined)
      throw new EddyError('NO_SERDE', `topic "${name}" has no schemas in this topology`, { details: { topic: name } });
    return s;
  }

  /**
   * The serdes of a state store. Decoding throws `StoreSchemaError` (naming the store, saying to bump the version)
   * for a record written with a schema the store's schema cannot read.
   */
  store(name: string): StoreSerdePair {
    const s = this.stores.get(name);
    if (s === undefined)
      throw new EddyError('NO_SERDE', `store "${name}" has no schemas in this topology`, { details: { store: name } });
    return s;
  }

  /**
   * Decodes a batch read from `topic`: fetches any writer schema not seen yet (one registry round trip per new id,
   * once: a failure is remembered), then decodes each record synchronously. Records that cannot be decoded come back
   * in `bad` with the reason: `deserialization failed: <key|value> (writer schema id N): <why>`, where why names the
   * field and the resolution rule when the writer schema cannot be resolved to the reader schema. A record with no key
   * (null key bytes) decodes with key `null`, as Kafka Streams passes it on; a null value (tombstone) is bad. Only records are
   * dead-lettered, never a registry's trouble: while the registry cannot be reached the registry's calls wait
   * (`ResilientRegistry`), and a fault of the registry is thrown (the batch is not processed, nothing is committed).
   * @throws RegistryUnreachableError or SchemaRegistryError on a fault of the registry (`isRegistryFault`).
   */
  async decode(
    topic: string,
    records: readonly LogRecord[],
  ): Promise<{ ok: Flowing[]; bad: { raw: LogRecord; reason: string }[] }> {
    const serdes = this.topic(topic);
    const keyIds = new Set<number>();
    const valueIds = new Set<number>();
    for (const r of records) {
      if (r.key !== null && r.key.length >= HEADER_SIZE && r.key[0] === 0) keyIds.add(r.key.readInt32BE(1));
      if (r.value !== null && r.value.length >= HEADER_SIZE && r.value[0] === 0) valueIds.add(r.value.readInt32BE(1));
    }
    // One id at a time, so that one unknown id dead-letters only its records; the serde remembers the failure. A
    // fault of the registry (unreachable past its bound, credentials) is not the records' fault: it fails the batch,
    // which is not processed, and nothing is dead-lettered.
    for (const [serde, ids] of [
      [serdes.key, keyIds],
      [serdes.value, valueIds],
    ] as const) {
      for (const id of ids)
        await serde.prepare([id]).catch((err: unknown) => {
          if (!(err instanceof SerdeError)) throw err;
        });
    }
    const ok: Flowing[] = [];
    const bad: { raw: LogRecord; reason: string }[] = [];
    const table = this.tables.has(topic);
    for (const raw of records) {
      // A null key passes (Kafka Streams gives it to processors: a global-table join, map, filter... accept it;
      // aggregations and repartitions drop it, see `needsKey`; a table drops and counts it).
      const key = raw.key === null ? { decoded: null } : decodePart(serdes.key, raw.key);
      if (table && raw.value === null && key.error === undefined) {
        // A table's topic: a null value is a tombstone (delete).
        ok.push({
          key: key.decoded,
          value: null,
          timestamp: raw.timestamp,
          headers: raw.headers,
          raw,
          origin: originOf(raw),
        });
        continue;
      }
      const value =
        key.error !== undefined
          ? undefined
          : raw.value === null
            ? { error: 'value: the record is a tombstone (null value) on a stream topic' }
            : decodePart(serdes.value, raw.value);
      if (key.error !== undefined || value?.error !== undefined) {
        bad.push({ raw, reason: `deserialization failed: ${key.error ?? value?.error}` });
        continue;
      }
      ok.push({
        key: key.decoded,
        value: value?.decoded,
        timestamp: raw.timestamp,
        headers: raw.headers,
        raw,
        origin: originOf(raw),
      });
    }
    return { ok, bad };
  }
}

/** Decodes a key or a value; on failure, the reason prefixed with the part and the writer schema id. */
function decodePart(serde: AvroSerde<unknown>, buf: Buffer): { decoded?: unknown; error?: string } {
  try {
    return { decoded: serde.deserialize(buf) };
  } catch (err) {
    const id =
      buf.length >= HEADER_SIZE && buf[0] === 0 ? `writer schema id ${buf.readInt32BE(1)}` : 'no writer schema id';
    return { error: `${serde.part} (${id}): ${err instanceof Error ? err.message : String(err)}` };
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
