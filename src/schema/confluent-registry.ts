/**
 * Client of the Confluent Schema Registry REST API (also served by Apicurio Registry at `/apis/ccompat/v7`).
 *
 * Endpoints used: `POST /subjects/{s}/versions`, `GET /schemas/ids/{id}`, `GET /subjects`,
 * `GET /subjects/{s}/versions[/{v}|/latest]`, `GET|PUT /config[/{s}]`,
 * `POST /compatibility/subjects/{s}/versions/latest?verbose=true`.
 *
 * Why plain `fetch` rather than `@kafkajs/confluent-schema-registry`'s client: its `register` rejects schemas that
 * are not named types (record keys are often the primitive `"string"`), throws when the subject's compatibility
 * level differs from the one passed in, and pins the subject to BACKWARD on first registration; its `getSchema`
 * returns an avsc Type, whose `schema()` drops `logicalType` and other attributes, so the registered schema text
 * would be lost. Every call here is a single REST request with the same auth, timeout and retry policy.
 *
 * Compatibility is enforced by the server on `register`; when it rejects a schema (HTTP 409), the reason is computed
 * locally with `checkCompatibility` so that the error names the field and the fix.
 */
import { ConfigError, SchemaRegistryError, UnknownSchemaIdError } from '../errors.js';
import { parseSchema, schemaFromText } from './avro.js';
import { checkCompatibilityLabeled, incompatible } from './compatibility.js';
import {
  type AvroSchema,
  COMPATIBILITY_LEVELS,
  type CompatibilityLevel,
  DEFAULT_COMPATIBILITY,
  type RegisteredSchema,
  type SchemaRegistry,
} from './types.js';

/** Options of `ConfluentSchemaRegistry`. */
export interface ConfluentRegistryOptions {
  /** Base URL, e.g. `http://localhost:8081` (Confluent) or `http://127.0.0.1:8080/apis/ccompat/v7` (Apicurio). */
  host: string;
  /** HTTP basic auth (Confluent Cloud: API key and secret). */
  auth?: { username: string; password: string };
  /** Sent as the User-Agent, to tell clients apart in registry logs. Default `eddy`. */
  clientId?: string;
  /** Per-request timeout in ms. Default 10 000. */
  timeoutMs?: number;
  /** Retries of network errors, HTTP 5xx and 429, with exponential backoff from 100 ms. Default 3. */
  retries?: number;
  /** The fetch implementation (tests inject a fake). Default: global `fetch`. */
  fetch?: typeof fetch;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const ACCEPT =
  'application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; q=0.9, application/json; q=0.5';

interface SubjectVersionResponse {
  subject: string;
  id: number;
  version: number;
  schema: string;
  schemaType?: string;
}

/** `SchemaRegistry` over the Confluent REST API. Schemas by id are cached in memory (ids are immutable). */
/** Subjects asked for per `GET /subjects` page. */
const SUBJECTS_PAGE = 1_000;

export class ConfluentSchemaRegistry implements SchemaRegistry {
  /** Base URL without trailing slash and without credentials. */
  readonly host: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly fetchFn: typeof fetch;
  private readonly byId = new Map<number, AvroSchema>();
  private readonly pendingById = new Map<number, Promise<AvroSchema>>();

  /** @throws ConfigError when `host` is not an http(s) URL. */
  constructor(opts: ConfluentRegistryOptions) {
    let url: URL;
    try {
      url = new URL(opts.host);
    } catch {
      throw new ConfigError(`Invalid schema registry URL "${opts.host}": expected e.g. http://localhost:8081.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`Invalid schema registry URL "${opts.host}": expected an http or https URL.`);
    }
    let auth = opts.auth;
    if (!auth && url.username) {
      // fetch() refuses URLs with credentials: move them to the Authorization header.
      auth = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    }
    url.username = '';
    url.password = '';
    this.host = url.toString().replace(/\/+$/, '');
    this.headers = { Accept: ACCEPT, 'User-Agent': opts.clientId ?? 'eddy' };
    if (auth) {
      this.headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    }
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retries = opts.retries ?? 3;
    this.fetchFn = opts.fetch ?? fetch;
  }

  async register(subject: string, schema: AvroSchema): Promise<number> {
    const type = parseSchema(schema, `for subject "${subject}"`);
    try {
      const res = await this.request<{ id: number }>('POST', `/subjects/${enc(subject)}/versions`, body(schema));
      return res.id;
    } catch (err) {
      if (statusOf(err) === 409) {
        const { level, reason } = await this.explain(subject, type, (err as Error).message);
        throw incompatible(subject, level, reason);
      }
      if (statusOf(err) === 422) {
        throw new ConfigError(
          `The schema registry rejected the schema for subject "${subject}": ${(err as Error).message}`,
          {
            subject,
          },
        );
      }
      throw err;
    }
  }

  async getById(id: number): Promise<AvroSchema> {
    const cached = this.byId.get(id);
    if (cached !== undefined) return cached;
    let pending = this.pendingById.get(id);
    if (!pending) {
      pending = this.fetchById(id).finally(() => this.pendingById.delete(id));
      this.pendingById.set(id, pending);
    }
    return pending;
  }

  async getLatest(subject: string): Promise<RegisteredSchema | undefined> {
    return this.subjectVersion(subject, 'latest');
  }

  async getVersion(subject: string, version: number): Promise<RegisteredSchema | undefined> {
    if (!Number.isInteger(version) || version < 1) return undefined;
    return this.subjectVersion(subject, String(version));
  }

  /**
   * Every subject, paged (`?offset=&limit=`): Apicurio's Confluent API answers at most 1,000 subjects per request,
   * Confluent's pages when asked and otherwise answers them all (a page with nothing new ends the walk).
   */
  async listSubjects(): Promise<string[]> {
    const all = new Set<string>();
    for (let offset = 0; ; ) {
      const page = await this.request<string[]>('GET', `/subjects?offset=${offset}&limit=${SUBJECTS_PAGE}`);
      const before = all.size;
      for (const s of page) all.add(s);
      if (page.length < SUBJECTS_PAGE || all.size === before) break;
      offset += page.length;
    }
    return [...all].sort();
  }

  async listVersions(subject: string): Promise<number[]> {
    try {
      return (await this.request<number[]>('GET', `/subjects/${enc(subject)}/versions`)).sort((a, b) => a - b);
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw err;
    }
  }

  /**
   * Confluent: `GET /config/{s}?defaultToGlobal=true`, falling back to `GET /config` when the subject has no level
   * (404). Apicurio answers `NONE` for a subject with no compatibility rule of its own, even when a global rule
   * applies; its `register` still enforces the global rule.
   */
  async getCompatibility(subject?: string): Promise<CompatibilityLevel> {
    if (subject !== undefined) {
      try {
        const res = await this.request<LevelResponse>('GET', `/config/${enc(subject)}?defaultToGlobal=true`);
        return toLevel(res);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
    try {
      return toLevel(await this.request<LevelResponse>('GET', '/config'));
    } catch (err) {
      if (statusOf(err) === 404) return DEFAULT_COMPATIBILITY;
      throw err;
    }
  }

  /** Note: Apicurio only accepts a subject-level setting once the subject has a version (else HTTP 404). */
  async setCompatibility(level: CompatibilityLevel, subject?: string): Promise<void> {
    if (!COMPATIBILITY_LEVELS.includes(level)) {
      throw new ConfigError(`Unknown compatibility level "${level}". Use one of ${COMPATIBILITY_LEVELS.join(', ')}.`);
    }
    const path = subject === undefined ? '/config' : `/config/${enc(subject)}`;
    try {
      await this.request('PUT', path, { compatibility: level });
    } catch (err) {
      if (statusOf(err) === 404 && subject !== undefined) {
        throw new SchemaRegistryError(
          `Cannot set the compatibility level of subject "${subject}": the registry does not know the subject ` +
            `(${(err as Error).message}). Register a schema under it first.`,
          { details: { subject, level }, cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Asks the server (`POST /compatibility/subjects/{s}/versions/latest?verbose=true`); for a `*_TRANSITIVE` subject
   * it also checks the older versions locally, since "latest" covers only the latest version.
   */
  async testCompatibility(subject: string, schema: AvroSchema): Promise<string | null> {
    const type = parseSchema(schema, `for subject "${subject}"`);
    let res: { is_compatible: boolean; messages?: string[] };
    try {
      res = await this.request(
        'POST',
        `/compatibility/subjects/${enc(subject)}/versions/latest?verbose=true`,
        body(schema),
      );
    } catch (err) {
      if (statusOf(err) === 404) return null; // no versions yet: anything is compatible
      throw err;
    }
    const serverSays = res.messages?.length ? res.messages.join('; ') : 'the registry reports it incompatible';
    if (!res.is_compatible) return (await this.explain(subject, type, serverSays)).reason;
    const level = await this.getCompatibility(subject);
    return level.endsWith('_TRANSITIVE') ? this.checkLocally(subject, type, level) : null;
  }

  /** Nothing to release (fetch keeps no per-client connections); caches are dropped. */
  async close(): Promise<void> {
    this.byId.clear();
  }

  private async fetchById(id: number): Promise<AvroSchema> {
    let res: { schema: string; schemaType?: string };
    try {
      res = await this.request('GET', `/schemas/ids/${id}`);
    } catch (err) {
      if (statusOf(err) === 404) throw new UnknownSchemaIdError(id, this.host);
      throw err;
    }
    const schema = this.parseText(res.schema, res.schemaType, `schema id ${id}`);
    this.byId.set(id, schema);
    return schema;
  }

  private async subjectVersion(subject: string, version: string): Promise<RegisteredSchema | undefined> {
    let res: SubjectVersionResponse;
    try {
      res = await this.request('GET', `/subjects/${enc(subject)}/versions/${version}`);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
    const schema = this.parseText(res.schema, res.schemaType, `subject "${subject}" version ${res.version}`);
    return { id: res.id, subject: res.subject ?? subject, version: res.version, schema };
  }

  private parseText(text: string, schemaType: string | undefined, what: string): AvroSchema {
    if (schemaType !== undefined && schemaType.toUpperCase() !== 'AVRO') {
      throw new SchemaRegistryError(`${what} in ${this.host} is a ${schemaType} schema; eddy reads Avro only.`, {
        details: { schemaType },
      });
    }
    try {
      return schemaFromText(text);
    } catch (err) {
      throw new SchemaRegistryError(`${what} in ${this.host} is not valid schema JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** The reason a schema was rejected, computed locally (names the field); falls back to the server's words. */
  private async explain(
    subject: string,
    type: ReturnType<typeof parseSchema>,
    serverSays: string,
  ): Promise<{ level: CompatibilityLevel; reason: string }> {
    const level = await this.getCompatibility(subject);
    let reason = await this.checkLocally(subject, type, level);
    if (reason === null && level === 'NONE') {
      // Apicurio reports NONE for subjects without their own rule, while a global rule applies.
      const global = await this.getCompatibility();
      reason = await this.checkLocally(subject, type, global);
      if (reason !== null) return { level: global, reason };
    }
    return { level, reason: reason ?? `${serverSays}.` };
  }

  private async checkLocally(
    subject: string,
    type: ReturnType<typeof parseSchema>,
    level: CompatibilityLevel,
  ): Promise<string | null> {
    if (level === 'NONE') return null;
    const versions = await this.listVersions(subject);
    const wanted = level.endsWith('_TRANSITIVE') ? versions : versions.slice(-1);
    const rows = (await Promise.all(wanted.map((v) => this.getVersion(subject, v)))).filter(
      (r): r is RegisteredSchema => r !== undefined,
    );
    return checkCompatibilityLabeled(
      level,
      type,
      rows.map((r, i) => ({
        schema: r.schema,
        label: `version ${r.version} (id ${r.id}${i === rows.length - 1 ? ', latest' : ''})`,
      })),
    );
  }

  /**
   * One REST call. Retries network errors, 5xx and 429 (`retries` times, backoff 100 ms * 2^attempt).
   * @throws SchemaRegistryError with details `{ method, url, status, errorCode }` (Confluent `error_code`).
   */
  private async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, payload?: unknown): Promise<T> {
    const url = this.host + path;
    const headers = payload === undefined ? this.headers : { ...this.headers, 'Content-Type': CONTENT_TYPE };
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchFn(url, {
          method,
          headers,
          body: payload === undefined ? undefined : JSON.stringify(payload),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        if (attempt < this.retries) {
          await sleep(100 * 2 ** attempt);
          continue;
        }
        throw new SchemaRegistryError(
          `Schema registry ${this.host} is unreachable (${method} ${path}): ${(err as Error).message}. ` +
            'Check that it is running and the URL is right.',
          { retriable: true, details: { method, url }, cause: err },
        );
      }
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      const retriable = res.status >= 500 || res.status === 429;
      if (retriable && attempt < this.retries) {
        await sleep(100 * 2 ** attempt);
        continue;
      }
      let errorCode: number | undefined;
      let message = text.slice(0, 500);
      try {
        const parsed = JSON.parse(text) as { error_code?: number; message?: string };
        errorCode = parsed.error_code;
        message = parsed.message ?? message;
      } catch {
        // not JSON: keep the raw text
      }
      const code = errorCode !== undefined ? ` (error_code ${errorCode})` : '';
      const hint = res.status === 401 || res.status === 403 ? ' Check the registry credentials.' : '';
      throw new SchemaRegistryError(
        `Schema registry ${method} ${url} failed with HTTP ${res.status}${code}: ${message || res.statusText}.${hint}`,
        { retriable, details: { method, url, status: res.status, errorCode } },
      );
    }
  }
}

type LevelResponse = { compatibilityLevel?: string; compatibility?: string };

function toLevel(res: LevelResponse): CompatibilityLevel {
  const raw = (res.compatibilityLevel ?? res.compatibility ?? '').toUpperCase();
  if ((COMPATIBILITY_LEVELS as readonly string[]).includes(raw)) return raw as CompatibilityLevel;
  throw new SchemaRegistryError(`The schema registry answered an unknown compatibility level: ${JSON.stringify(res)}.`);
}

const enc = (subject: string): string => encodeURIComponent(subject);
const body = (schema: AvroSchema) => ({ schema: JSON.stringify(schema), schemaType: 'AVRO' });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The HTTP status of a failed registry call, if it got that far. */
function statusOf(err: unknown): number | undefined {
  return err instanceof SchemaRegistryError ? (err.details.status as number | undefined) : undefined;
}
