/**
 * A schema registry that reads a real one and never writes to it: what a dry run and a trace hand to
 * `TopologySerdes.create`, which registers the subjects a topology writes. A schema already registered under the
 * subject gets its real id (so records encode exactly as in a real run and partition the same); a new one is
 * checked for compatibility by the real registry and then kept in memory only, under an id no real registry hands
 * out (from `SCRATCH_SCHEMA_ID_BASE`).
 */
import { EddyError, IncompatibleSchemaError } from '../errors.js';
import { identityOf, parseSchema } from '../schema/avro.js';
import type { AvroSchema, CompatibilityLevel, RegisteredSchema, SchemaRegistry } from '../schema/types.js';

/** First id given to a schema registered only in the scratch overlay. */
export const SCRATCH_SCHEMA_ID_BASE = 1_000_000_000;

/** Reads `real`; `register` never reaches it. `close()` leaves `real` open (its owner closes it). */
export class ScratchRegistry implements SchemaRegistry {
  private readonly byId = new Map<number, AvroSchema>();
  /** subject -> schemas registered in the overlay only, in order. */
  private readonly added = new Map<string, { id: number; identity: string; schema: AvroSchema }[]>();
  private nextId = SCRATCH_SCHEMA_ID_BASE;

  constructor(private readonly real: SchemaRegistry) {}

  /** Subjects given a schema that the real registry does not hold (what a real run would register). */
  get wouldRegister(): string[] {
    return [...this.added.keys()].sort();
  }

  async register(subject: string, schema: AvroSchema): Promise<number> {
    const identity = identityOf(parseSchema(schema, `for subject "${subject}"`));
    for (const v of await this.real.listVersions(subject)) {
      const r = await this.real.getVersion(subject, v);
      if (r !== undefined && identityOf(parseSchema(r.schema)) === identity) return r.id;
    }
    const mine = this.added.get(subject) ?? [];
    const hit = mine.find((m) => m.identity === identity);
    if (hit !== undefined) return hit.id;
    const reason = await this.real.testCompatibility(subject, schema);
    if (reason !== null) throw new IncompatibleSchemaError(subject, await this.real.getCompatibility(subject), reason);
    const id = this.nextId++;
    mine.push({ id, identity, schema });
    this.added.set(subject, mine);
    this.byId.set(id, schema);
    return id;
  }

  async getById(id: number): Promise<AvroSchema> {
    return this.byId.get(id) ?? this.real.getById(id);
  }

  async getLatest(subject: string): Promise<RegisteredSchema | undefined> {
    const versions = await this.listVersions(subject);
    return versions.length === 0 ? undefined : this.getVersion(subject, versions[versions.length - 1]);
  }

  async getVersion(subject: string, version: number): Promise<RegisteredSchema | undefined> {
    const real = await this.real.listVersions(subject);
    if (version <= (real[real.length - 1] ?? 0)) return this.real.getVersion(subject, version);
    const m = this.added.get(subject)?.[version - (real[real.length - 1] ?? 0) - 1];
    return m === undefined ? undefined : { id: m.id, subject, version, schema: m.schema };
  }

  async listSubjects(): Promise<string[]> {
    return [...new Set([...(await this.real.listSubjects()), ...this.added.keys()])].sort();
  }

  async listVersions(subject: string): Promise<number[]> {
    const real = await this.real.listVersions(subject);
    const last = real[real.length - 1] ?? 0;
    return [...real, ...(this.added.get(subject) ?? []).map((_, i) => last + i + 1)];
  }

  getCompatibility(subject?: string): Promise<CompatibilityLevel> {
    return this.real.getCompatibility(subject);
  }

  async setCompatibility(): Promise<void> {
    throw new EddyError('READ_ONLY_REGISTRY', 'a dry run or trace never changes the schema registry');
  }

  testCompatibility(subject: string, schema: AvroSchema): Promise<string | null> {
    return this.real.testCompatibility(subject, schema);
  }

  async close(): Promise<void> {}
}
