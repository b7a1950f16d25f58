/**
 * A schema registry that rides out outages (issue 16): what a worker uses in front of its Confluent-API registry.
 *
 * A registry that cannot be reached (network errors, timeouts, HTTP 5xx and 429: `SchemaRegistryError` with
 * `retriable`) is a transient fault, never a property of the records that needed it. Each call:
 * - `getById` answers from the on-disk cache first (`RegistryCache`: schema ids are immutable), else asks the
 *   registry; while it cannot be reached the call waits (backoff from 250 ms to 5 s) and asks again, so the batch
 *   that needed the id is not processed until the id is resolved. The consumer keeps heartbeating meanwhile (the
 *   batch handler runs inside kafkajs' batch callback, see src/log/kafka/consumer.ts): the task pauses and keeps its
 *   partitions.
 * - the lookups a worker's start makes (`register` of the subjects it writes, `listVersions`/`getVersion`/
 *   `getLatest`/`getCompatibility`/`testCompatibility` of the subjects it reads) ask the registry and remember the
 *   answer; while it cannot be reached they answer what was remembered (then without asking again more than once a
 *   second), so a worker restarted during an outage starts, and waits as `getById` does only for what it never saw.
 * - past `maxOutageMs` of continuous outage, a call that still has no answer throws `RegistryUnreachableError`
 *   naming the registry URL (the worker exits 1).
 * An answer that says the registry does not know something (HTTP 404: `UnknownSchemaIdError`, an unknown subject)
 * comes back at once: a record with an unknown schema id is a bad record and is dead-lettered by the caller.
 * `onEvent` reports when the registry goes down and comes back (the worker logs both; `health()` feeds its metrics).
 */
import { RegistryUnreachableError, SchemaRegistryError, UnknownSchemaIdError } from '../errors.js';
import type { RegistryCache } from './registry-cache.js';
import type { AvroSchema, CompatibilityLevel, RegisteredSchema, SchemaRegistry } from './types.js';

/** The registry went down (the first failed call of an outage) or came back (the first answer after one). */
export type RegistryEvent =
  | { readonly kind: 'down'; readonly url: string; readonly what: string; readonly error: Error }
  | { readonly kind: 'up'; readonly url: string; readonly downMs: number };

/** Whether the registry answers now, as the worker's metrics show it. */
export interface RegistryHealth {
  readonly url: string;
  /** False from the first failed call of an outage to the first answer after it. */
  readonly up: boolean;
  /** Outages seen since the process started. */
  readonly outages: number;
  /** When the current outage began (ms since epoch), if down. */
  readonly downSinceMs?: number;
}

/** Options of `ResilientRegistry`. */
export interface ResilientRegistryOptions {
  /** The registry's URL, for messages (no credentials). */
  readonly url: string;
  /** Where answers are remembered (on disk). */
  readonly cache: RegistryCache;
  /** Bound of one outage, ms (`schemaRegistry.maxOutageMs`); past it a call with no answer throws. */
  readonly maxOutageMs: number;
  readonly onEvent?: (e: RegistryEvent) => void;
  /** Longest wait between two attempts while down, ms. Default 5,000. */
  readonly maxBackoffMs?: number;
}

/** While down, how often a call with a remembered answer asks the registry again, ms. */
const PROBE_INTERVAL_MS = 1_000;

/**
 * True for an error of the registry itself rather than of a record: unreachable, 5xx/429, an outage past its bound,
 * or any other HTTP answer but 404 (401/403: credentials). Records are never dead-lettered for these.
 */
export function isRegistryFault(err: unknown): boolean {
  if (err instanceof RegistryUnreachableError) return true;
  return err instanceof SchemaRegistryError && (err.retriable || typeof err.details.status === 'number');
}

/** A transient fault: worth waiting for (network errors, timeouts, HTTP 5xx and 429). */
function isTransient(err: unknown): err is SchemaRegistryError {
  return err instanceof SchemaRegistryError && err.retriable;
}

/** See the module docstring. Implements the whole `SchemaRegistry` contract over `inner`. */
export class ResilientRegistry implements SchemaRegistry {
  private downSinceMs: number | undefined;
  private lastProbeMs = 0;
  private outages = 0;
  private closed = false;
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly inner: SchemaRegistry,
    private readonly o: ResilientRegistryOptions,
  ) {}

  /** Up or down, and since when (for the `eddy_schema_registry_*` metrics). */
  health(): RegistryHealth {
    return {
      url: this.o.url,
      up: this.downSinceMs === undefined,
      outages: this.outages,
      ...(this.downSinceMs === undefined ? {} : { downSinceMs: this.downSinceMs }),
    };
  }

  async register(subject: string, schema: AvroSchema): Promise<number> {
    const id = await this.call(
      `register subject "${subject}"`,
      () => this.inner.register(subject, schema),
      () => hit(this.o.cache.registered(subject, schema)),
    );
    this.o.cache.putRegistered(subject, schema, id);
    return id;
  }

  async getById(id: number): Promise<AvroSchema> {
    const cached = this.o.cache.schema(id);
    if (cached !== undefined) return cached;
    const schema = await this.call(`GET /schemas/ids/${id}`, () => this.inner.getById(id));
    this.o.cache.putSchema(id, schema);
    return schema;
  }

  async getLatest(subject: string): Promise<RegisteredSchema | undefined> {
    const r = await this.call(
      `latest version of subject "${subject}"`,
      () => this.inner.getLatest(subject),
      () => {
        const versions = this.o.cache.versions(subject);
        if (versions === undefined) return undefined;
        if (versions.length === 0) return { value: undefined };
        return hit(this.o.cache.version(subject, versions[versions.length - 1]));
      },
    );
    if (r) this.o.cache.putVersion(r);
    return r;
  }

  async getVersion(subject: string, version: number): Promise<RegisteredSchema | undefined> {
    const r = await this.call(
      `version ${version} of subject "${subject}"`,
      () => this.inner.getVersion(subject, version),
      () => hit(this.o.cache.version(subject, version)),
    );
    if (r) this.o.cache.putVersion(r);
    return r;
  }

  async listSubjects(): Promise<string[]> {
    return this.call('list subjects', () => this.inner.listSubjects());
  }

  async listVersions(subject: string): Promise<number[]> {
    const versions = await this.call(
      `versions of subject "${subject}"`,
      () => this.inner.listVersions(subject),
      () => hit(this.o.cache.versions(subject)),
    );
    this.o.cache.putVersions(subject, versions);
    return versions;
  }

  async getCompatibility(subject?: string): Promise<CompatibilityLevel> {
    const key = subject ?? '';
    const level = await this.call(
      `compatibility level of ${subject === undefined ? 'the registry' : `subject "${subject}"`}`,
      () => this.inner.getCompatibility(subject),
      () => hit(this.o.cache.level(key)),
    );
    this.o.cache.putLevel(key, level);
    return level;
  }

  async setCompatibility(level: CompatibilityLevel, subject?: string): Promise<void> {
    await this.call('set a compatibility level', () => this.inner.setCompatibility(level, subject));
  }

  async testCompatibility(subject: string, schema: AvroSchema): Promise<string | null> {
    const verdict = await this.call(
      `compatibility test of subject "${subject}"`,
      () => this.inner.testCompatibility(subject, schema),
      () => {
        const v = this.o.cache.verdict(subject, schema);
        return v === undefined ? undefined : { value: v };
      },
    );
    this.o.cache.putVerdict(subject, schema, verdict);
    return verdict;
  }

  /**
   * Ends the waits in progress and every later one: a call that finds the registry unreachable throws its error at
   * once (retriable `SchemaRegistryError`) instead of waiting. A worker calls it when it shuts down, so that a batch
   * waiting for the registry fails (uncommitted: the next owner processes it) rather than outlasting the shutdown.
   */
  stopWaiting(): void {
    this.closed = true;
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
  }

  /** Ends the waits (`stopWaiting`) and closes the inner client. */
  async close(): Promise<void> {
    this.stopWaiting();
    await this.inner.close();
  }

  /**
   * Runs `request`; on a transient fault answers `remembered()` if it has an answer, else waits and retries until
   * the outage has lasted `maxOutageMs`.
   * @throws RegistryUnreachableError past the bound; any non-transient error of `request` at once.
   */
  private async call<T>(
    what: string,
    request: () => Promise<T>,
    remembered: () => { value: T } | undefined = () => undefined,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.downSinceMs !== undefined && Date.now() - this.lastProbeMs < PROBE_INTERVAL_MS) {
        const r = remembered();
        if (r !== undefined) return r.value;
      }
      let error: SchemaRegistryError;
      try {
        this.lastProbeMs = Date.now();
        const value = await request();
        this.markUp();
        return value;
      } catch (err) {
        if (!isTransient(err)) {
          // an answer (404 included) means the registry is reachable again
          if (
            err instanceof UnknownSchemaIdError ||
            (err instanceof SchemaRegistryError && err.details.status !== undefined)
          )
            this.markUp();
          throw err;
        }
        error = err;
      }
      this.lastProbeMs = Date.now();
      this.markDown(what, error);
      const r = remembered();
      if (r !== undefined) return r.value;
      const downMs = Date.now() - (this.downSinceMs ?? Date.now());
      if (this.closed) throw error;
      if (downMs >= this.o.maxOutageMs)
        throw new RegistryUnreachableError(this.o.url, what, downMs, this.o.maxOutageMs, error);
      const backoffMs = Math.min(this.o.maxBackoffMs ?? 5_000, 250 * 2 ** Math.min(attempt, 5));
      await this.sleep(Math.min(backoffMs, this.o.maxOutageMs - downMs));
      if (this.closed) throw error;
    }
  }

  private markDown(what: string, error: Error): void {
    if (this.downSinceMs !== undefined) return;
    this.downSinceMs = Date.now();
    this.outages++;
    this.o.onEvent?.({ kind: 'down', url: this.o.url, what, error });
  }

  private markUp(): void {
    if (this.downSinceMs === undefined) return;
    const downMs = Date.now() - this.downSinceMs;
    this.downSinceMs = undefined;
    this.o.onEvent?.({ kind: 'up', url: this.o.url, downMs });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.sleepers.add(wake);
    });
  }
}

/** A remembered answer, when there is one. */
function hit<T>(value: T | undefined): { value: T } | undefined {
  return value === undefined ? undefined : { value };
}
