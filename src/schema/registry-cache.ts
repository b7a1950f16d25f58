/**
 * The answers a worker got from its schema registry, kept on disk so that a worker (re)started while the registry is
 * unreachable can start with what it already knew (issue 16). Schema ids are immutable in a registry (Confluent
 * Schema Registry: "the id is unique and never reused"), so the schema of an id is cached forever; the lookups the
 * worker's start makes (versions of a subject, the id a registration returned, compatibility verdicts) are kept as
 * their last answer and are used only while the registry cannot be reached.
 *
 * Layout under `dir` (one directory per registry URL, `<stateDir>/schemas/<sha256(url)[0..16]>/`):
 * - `registry.json`: `{ "url": ... }`, for people looking at the directory;
 * - `ids/<id>.avsc`: the schema text of each id resolved;
 * - `subjects/<encodeURIComponent(subject)>.json`: `{ subject, versions: { "<version>": id }, registered:
 *   { "<schema JSON>": id }, levels: { "<subject>": level }, verdicts: { "<schema JSON>": reason | null } }`.
 * Every file is written whole (a temporary file renamed over it), so a crash never leaves a half-written entry; a file
 * that cannot be parsed is ignored (the registry is asked again). Writes are best effort: a cache that cannot be
 * written only means the next outage finds less in it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaFromText } from './avro.js';
import type { AvroSchema, CompatibilityLevel, RegisteredSchema } from './types.js';

/** What is cached of one subject. */
interface SubjectEntry {
  subject: string;
  /** Version number -> schema id. */
  versions: Record<string, number>;
  /** `JSON.stringify(schema)` -> the id `register` returned. */
  registered: Record<string, number>;
  /** The subject's compatibility level, as last read. */
  level?: CompatibilityLevel;
  /** `JSON.stringify(schema)` -> the last `testCompatibility` answer (null: compatible). */
  verdicts: Record<string, string | null>;
}

/** The cache directory of the registry at `url` under a state directory: `<stateDir>/schemas/<hash of url>`. */
export function registryCacheDir(stateDir: string, url: string): string {
  return join(stateDir, 'schemas', createHash('sha256').update(url).digest('hex').slice(0, 16));
}

/** The on-disk cache of one registry's answers (see the module docstring). Loaded whole when opened. */
export class RegistryCache {
  private readonly ids = new Map<number, AvroSchema>();
  private readonly subjects = new Map<string, SubjectEntry>();
  private writable = true;

  /**
   * Opens (creating it if needed) the cache in `dir` for the registry at `url`. Unreadable entries are skipped.
   * @param onWriteError called once when the cache cannot be written (full disk, permissions); eddy goes on.
   */
  constructor(
    readonly dir: string,
    readonly url: string,
    private readonly onWriteError?: (err: Error) => void,
  ) {
    try {
      mkdirSync(join(dir, 'ids'), { recursive: true });
      mkdirSync(join(dir, 'subjects'), { recursive: true });
      this.write(join(dir, 'registry.json'), JSON.stringify({ url }));
    } catch (err) {
      this.failed(err);
    }
    for (const f of list(join(dir, 'ids'))) {
      const m = /^(\d+)\.avsc$/.exec(f);
      if (!m) continue;
      try {
        this.ids.set(Number(m[1]), schemaFromText(readFileSync(join(dir, 'ids', f), 'utf8')));
      } catch {
        // unreadable: asked again
      }
    }
    for (const f of list(join(dir, 'subjects'))) {
      if (!f.endsWith('.json')) continue;
      try {
        const e = JSON.parse(readFileSync(join(dir, 'subjects', f), 'utf8')) as SubjectEntry;
        if (typeof e.subject === 'string') this.subjects.set(e.subject, { ...emptyEntry(e.subject), ...e });
      } catch {
        // unreadable: asked again
      }
    }
  }

  /** The schema of `id`, if it was ever resolved. */
  schema(id: number): AvroSchema | undefined {
    return this.ids.get(id);
  }

  /** Records the schema of `id` (ids are immutable: written once). */
  putSchema(id: number, schema: AvroSchema): void {
    if (this.ids.has(id)) return;
    this.ids.set(id, schema);
    this.write(join(this.dir, 'ids', `${id}.avsc`), JSON.stringify(schema));
  }

  /** The versions of `subject` as last listed, ascending; undefined when never listed. */
  versions(subject: string): number[] | undefined {
    const e = this.subjects.get(subject);
    if (e === undefined) return undefined;
    return Object.keys(e.versions)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Records the versions of `subject` (ids are filled in by `putVersion`). */
  putVersions(subject: string, versions: readonly number[]): void {
    this.update(subject, (e) => {
      const next: Record<string, number> = {};
      for (const v of versions) next[v] = e.versions[v] ?? -1;
      const same = JSON.stringify(next) === JSON.stringify(e.versions);
      e.versions = next;
      return !same;
    });
  }

  /** One version of `subject` from the cache, when both its id and that id's schema are known. */
  version(subject: string, version: number): RegisteredSchema | undefined {
    const id = this.subjects.get(subject)?.versions[version];
    if (id === undefined || id < 0) return undefined;
    const schema = this.ids.get(id);
    return schema === undefined ? undefined : { id, subject, version, schema };
  }

  /** Records one version of a subject and its schema. */
  putVersion(r: RegisteredSchema): void {
    this.putSchema(r.id, r.schema);
    this.update(r.subject, (e) => {
      if (e.versions[r.version] === r.id) return false;
      e.versions[r.version] = r.id;
      return true;
    });
  }

  /** The id `register(subject, schema)` returned, if it was ever called with that schema. */
  registered(subject: string, schema: AvroSchema): number | undefined {
    return this.subjects.get(subject)?.registered[JSON.stringify(schema)];
  }

  /** Records the id `register(subject, schema)` returned. */
  putRegistered(subject: string, schema: AvroSchema, id: number): void {
    this.putSchema(id, schema);
    const k = JSON.stringify(schema);
    this.update(subject, (e) => {
      if (e.registered[k] === id) return false;
      e.registered[k] = id;
      return true;
    });
  }

  /** The subject's compatibility level as last read. */
  level(subject: string): CompatibilityLevel | undefined {
    return this.subjects.get(subject)?.level;
  }

  /** Records the subject's compatibility level. */
  putLevel(subject: string, level: CompatibilityLevel): void {
    this.update(subject, (e) => {
      if (e.level === level) return false;
      e.level = level;
      return true;
    });
  }

  /** The last `testCompatibility(subject, schema)` answer: undefined when never asked, null when compatible. */
  verdict(subject: string, schema: AvroSchema): string | null | undefined {
    return this.subjects.get(subject)?.verdicts[JSON.stringify(schema)];
  }

  /** Records a `testCompatibility` answer. */
  putVerdict(subject: string, schema: AvroSchema, verdict: string | null): void {
    const k = JSON.stringify(schema);
    this.update(subject, (e) => {
      if (e.verdicts[k] === verdict) return false;
      e.verdicts[k] = verdict;
      return true;
    });
  }

  private update(subject: string, change: (e: SubjectEntry) => boolean): void {
    const e = this.subjects.get(subject) ?? emptyEntry(subject);
    this.subjects.set(subject, e);
    if (change(e)) this.write(join(this.dir, 'subjects', `${encodeURIComponent(subject)}.json`), JSON.stringify(e));
  }

  /** Writes `text` to `path` whole: a temporary file in the same directory, renamed over `path`. */
  private write(path: string, text: string): void {
    if (!this.writable) return;
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      writeFileSync(tmp, text);
      renameSync(tmp, path);
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    if (!this.writable) return;
    this.writable = false;
    const e = err instanceof Error ? err : new Error(String(err));
    this.onWriteError?.(
      new Error(`cannot write the schema registry cache ${this.dir}: ${e.message}; going on without it`, {
        cause: e,
      }),
    );
  }
}

function emptyEntry(subject: string): SubjectEntry {
  return { subject, versions: {}, registered: {}, verdicts: {} };
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
