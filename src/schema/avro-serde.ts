/**
 * Avro values in the Confluent Schema Registry wire format:
 *
 * | bytes | content |
 * |---|---|
 * | 0 | magic byte `0x00` |
 * | 1-4 | schema id, int32 big-endian (the id of the writer schema in the registry) |
 * | 5.. | the value, Avro binary encoding (Avro spec, "Binary Encoding") |
 *
 * Reading resolves the writer schema (looked up by id) to this serde's reader schema (Avro spec, "Schema
 * Resolution"): added reader fields take their defaults, removed fields are skipped.
 */
import type { Resolver, Type } from 'avsc';
import { SerdeError } from '../errors.js';
import { describeType, describeValue, fingerprintOf, identityOf, parseSchema } from './avro.js';
import { describeProblem, findResolutionProblem } from './compatibility.js';
import { isRegistryFault } from './resilient-registry.js';
import type { AvroSchema, SchemaRegistry } from './types.js';

/** The first byte of every Confluent wire-format value. */
export const MAGIC_BYTE = 0;
/** Length of the wire-format header: magic byte + 4-byte schema id. */
export const HEADER_SIZE = 5;

const INITIAL_SCRATCH = 16 * 1024;

/** `schemaId` of a reader-only serde whose reader schema is not registered under its subject: it cannot serialize. */
export const NOT_REGISTERED = -1;

/** One registered version of the serde's subject after `prepareSubject`: readable, or why not. */
export interface PreparedVersion {
  version: number;
  /** Registry-wide id of the version's schema (the writer schema id in the wire format). */
  id: number;
  /** Why records written with this version cannot be read with the reader schema; undefined when they can. */
  problem?: string;
}

/**
 * Serializer/deserializer of one subject. Use one instance per (subject, reader schema); it is not safe to share
 * across worker threads (it reuses a scratch buffer), but fine across async tasks of one thread.
 */
export class AvroSerde<T> {
  /** Resolvers by writer schema id; `null` = the writer is this serde's schema (canonically), no resolution needed. */
  private readonly resolvers = new Map<number, Resolver | null>();
  /** Writer ids that cannot be read (unknown to the registry, or not resolvable), with the error: never refetched. */
  private readonly failures = new Map<number, SerdeError>();
  private readonly fingerprint: string;
  private scratch = Buffer.allocUnsafe(INITIAL_SCRATCH);

  private constructor(
    private readonly registry: SchemaRegistry,
    /** The subject the schema is registered under, e.g. `flights-value`. */
    readonly subject: string,
    /** The registry id of this serde's schema: written by `serialize`. */
    readonly schemaId: number,
    /** The avsc type of this serde's schema: the writer type for `serialize`, the reader type for `deserialize`. */
    readonly type: Type,
  ) {
    this.fingerprint = fingerprintOf(type);
    if (schemaId !== NOT_REGISTERED) this.resolvers.set(schemaId, null);
  }

  /** `key` or `value`: which part of a record this serde reads (from the subject's `-key` suffix). */
  get part(): 'key' | 'value' {
    return this.subject.endsWith('-key') ? 'key' : 'value';
  }

  /**
   * Registers `schema` under `subject` (the writer schema for serialize, the reader schema for deserialize) and
   * returns a ready serde; its own id is already prepared.
   * @throws ConfigError when the schema is not valid Avro; IncompatibleSchemaError when the registry rejects it.
   */
  static async create<T>(registry: SchemaRegistry, subject: string, schema: AvroSchema): Promise<AvroSerde<T>> {
    const type = parseSchema(schema, `for subject "${subject}"`);
    const id = await registry.register(subject, schema);
    return new AvroSerde<T>(registry, subject, id, type);
  }

  /**
   * A reader-only serde: `schema` is the reader schema; nothing is registered (eddy never registers under the
   * subjects of the topics it only reads: they belong to their producers). Its `schemaId` is the id of an identical
   * schema registered under `subject` if there is one (then it can also serialize), else `NOT_REGISTERED`.
   * @throws ConfigError when the schema is not valid Avro.
   */
  static async reader<T>(registry: SchemaRegistry, subject: string, schema: AvroSchema): Promise<AvroSerde<T>> {
    const type = parseSchema(schema, `for subject "${subject}"`);
    const identity = identityOf(type);
    let id = NOT_REGISTERED;
    for (const v of await registry.listVersions(subject)) {
      const r = await registry.getVersion(subject, v);
      if (r && identityOf(parseSchema(r.schema, `(subject "${subject}" version ${v})`)) === identity) id = r.id;
    }
    return new AvroSerde<T>(registry, subject, id, type);
  }

  /**
   * Encodes `value` with this serde's schema in the wire format (new Buffer, exact size).
   * @throws SerdeError naming the subject and the field path(s) when the value does not match the schema
   *   (details: `{ subject, schemaId, errors: [{ path, expected, got }] }`).
   */
  serialize(value: T): Buffer {
    if (this.schemaId === NOT_REGISTERED) {
      throw new SerdeError(
        `Cannot serialize for subject "${this.subject}": its reader schema is not registered there (eddy only reads ` +
          'this subject). Register the schema with its producer first (eddy schemas register --subject ... --file ...).',
        { subject: this.subject },
      );
    }
    let end: number;
    try {
      end = this.type.encode(value, this.scratch, HEADER_SIZE);
      if (end < 0) {
        // Not enough room: `encode` returns minus the missing byte count.
        this.scratch = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.scratch.length - end));
        end = this.type.encode(value, this.scratch, HEADER_SIZE);
      }
    } catch (err) {
      throw this.invalidValue(value, err);
    }
    const out = Buffer.allocUnsafe(end);
    out[0] = MAGIC_BYTE;
    out.writeInt32BE(this.schemaId, 1);
    this.scratch.copy(out, HEADER_SIZE, HEADER_SIZE, end);
    return out;
  }

  /**
   * The schema id of a wire-format buffer.
   * @throws SerdeError when the buffer is shorter than 5 bytes or does not start with the magic byte 0x00.
   */
  static schemaIdOf(buf: Buffer): number {
    if (buf.length < HEADER_SIZE) {
      throw new SerdeError(
        `Not a Confluent wire-format value: ${buf.length} byte(s), at least ${HEADER_SIZE} are needed ` +
          '(magic byte + 4-byte schema id). Was it written by an Avro serializer with a schema registry?',
        { length: buf.length },
      );
    }
    if (buf[0] !== MAGIC_BYTE) {
      throw new SerdeError(
        `Not a Confluent wire-format value: magic byte is 0x${hex(buf[0])}, expected 0x00. ` +
          'Was it written as plain JSON/text or by another serializer?',
        { magic: buf[0] },
      );
    }
    return buf.readInt32BE(1);
  }

  /**
   * Fetches the writer schemas with these ids from the registry and builds resolvers (writer -> this reader
   * schema), so that `deserialize` can stay synchronous. Already prepared ids are skipped; call it once per batch
   * with the ids of the batch (see `schemaIdOf`).
   * @throws SerdeError when an id is unknown to the registry or its schema cannot be resolved to the reader schema
   *   (the message names the field and why): remembered, never asked again. A fault of the registry itself
   *   (unreachable, 5xx, credentials: see `isRegistryFault`) is thrown as is and not remembered: the records are
   *   fine, the caller must not dead-letter them.
   */
  async prepare(ids: Iterable<number>): Promise<void> {
    for (const id of new Set(ids)) {
      if (this.resolvers.has(id)) continue;
      const failed = this.failures.get(id);
      if (failed) throw failed;
      const err = await this.prepareOne(id);
      if (err) {
        this.failures.set(id, err);
        throw err;
      }
    }
  }

  /**
   * Prepares every version registered under this serde's subject, so that every record written under the subject
   * can be decoded synchronously (what state stores need: they decode store values on read, with no await). Does
   * not throw for versions that cannot be read: they are returned with the problem, and `deserialize` of a record
   * written with one throws that problem.
   * @throws SchemaRegistryError when the registry cannot be reached.
   */
  async prepareSubject(): Promise<PreparedVersion[]> {
    const out: PreparedVersion[] = [];
    for (const version of await this.registry.listVersions(this.subject)) {
      const r = await this.registry.getVersion(this.subject, version);
      if (!r) continue;
      try {
        await this.prepare([r.id]);
        out.push({ version, id: r.id });
      } catch (err) {
        if (isRegistryFault(err)) throw err;
        out.push({ version, id: r.id, problem: (err as Error).message });
      }
    }
    return out;
  }

  /**
   * Builds the resolver of writer id `id`, or returns the error (unknown id, not resolvable).
   * @throws the registry's error when it is a fault of the registry (`isRegistryFault`), not of the id.
   */
  private async prepareOne(id: number): Promise<SerdeError | undefined> {
    let writerSchema: AvroSchema;
    try {
      writerSchema = await this.registry.getById(id);
    } catch (err) {
      if (isRegistryFault(err)) throw err;
      return new SerdeError(
        `Cannot read ${this.part}s of subject "${this.subject}" written with schema id ${id}: ${(err as Error).message}`,
        { subject: this.subject, schemaId: id, part: this.part },
        err,
      );
    }
    let writer: Type;
    try {
      writer = parseSchema(writerSchema, `(writer schema id ${id})`);
    } catch (err) {
      return new SerdeError((err as Error).message, { subject: this.subject, schemaId: id, part: this.part }, err);
    }
    if (fingerprintOf(writer) === this.fingerprint) {
      this.resolvers.set(id, null);
      return undefined;
    }
    try {
      this.resolvers.set(id, this.type.createResolver(writer));
      return undefined;
    } catch (err) {
      const problem = findResolutionProblem(this.type, writer);
      const reader = this.schemaId === NOT_REGISTERED ? 'the reader schema' : `the reader schema (id ${this.schemaId})`;
      const why = problem
        ? describeProblem(problem, { reader, writer: `writer schema id ${id}`, readerIsNew: true })
        : (err as Error).message;
      return new SerdeError(
        `${capital(this.part)}s of subject "${this.subject}" written with schema id ${id} cannot be read with the ` +
          `reader schema: ${why}`,
        { subject: this.subject, schemaId: id, readerSchemaId: this.schemaId, part: this.part, path: problem?.path },
        err,
      );
    }
  }

  /**
   * Decodes a wire-format buffer into a value of the reader schema. Synchronous: the writer id must have been
   * prepared (see `prepare`).
   * @throws SerdeError (details `{ subject, schemaId }`) on a bad magic byte or short buffer, an id that was not
   *   prepared, a truncated or invalid payload, or trailing bytes after the value.
   */
  deserialize(buf: Buffer): T {
    const id = AvroSerde.schemaIdOf(buf);
    const resolver = this.resolvers.get(id);
    if (resolver === undefined) {
      const failed = this.failures.get(id);
      if (failed) throw failed;
      throw new SerdeError(
        `Schema id ${id} of a record of subject "${this.subject}" was not prepared: call \`await serde.prepare(ids)\` ` +
          'with the schema ids of the batch (AvroSerde.schemaIdOf) before deserialize.',
        { subject: this.subject, schemaId: id },
      );
    }
    let decoded: { value: unknown; offset: number };
    try {
      decoded = this.type.decode(buf, HEADER_SIZE, resolver ?? undefined);
    } catch (err) {
      throw new SerdeError(
        `Invalid Avro payload for subject "${this.subject}" (schema id ${id}): ${(err as Error).message}.`,
        { subject: this.subject, schemaId: id },
        err,
      );
    }
    if (decoded.offset < 0) {
      throw new SerdeError(
        `Truncated Avro payload for subject "${this.subject}" (schema id ${id}): ${buf.length} bytes end mid-value.`,
        { subject: this.subject, schemaId: id, length: buf.length },
      );
    }
    if (decoded.offset !== buf.length) {
      throw new SerdeError(
        `Trailing bytes in Avro payload for subject "${this.subject}" (schema id ${id}): the value ends at byte ` +
          `${decoded.offset} of ${buf.length}. Is the schema id right?`,
        { subject: this.subject, schemaId: id, length: buf.length, end: decoded.offset },
      );
    }
    return decoded.value as T;
  }

  private invalidValue(value: unknown, cause: unknown): SerdeError {
    const errors: { path: string; expected: string; got: string }[] = [];
    this.type.isValid(value, {
      errorHook: (path, got, type) => {
        if (errors.length < 10)
          errors.push({ path: path.join('.'), expected: describeType(type), got: describeValue(got) });
      },
    });
    const what =
      errors.length === 0
        ? (cause as Error).message
        : errors
            .map((e) => `${e.path ? `field "${e.path}"` : 'the value'} expects ${e.expected} but got ${e.got}`)
            .join('; ');
    return new SerdeError(
      `Cannot serialize a value for subject "${this.subject}" (schema id ${this.schemaId}): ${what}.`,
      { subject: this.subject, schemaId: this.schemaId, errors },
      cause,
    );
  }
}

const capital = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1);
const hex = (n: number | undefined): string => (n ?? 0).toString(16).padStart(2, '0');
