/**
 * The worker's HTTP server (node:http): liveness, readiness, Prometheus metrics and read-only store views.
 *
 * - `GET /health`: 200 while the process runs (liveness).
 * - `GET /ready`: 200 when every assigned task is restored and processing; 503 otherwise, with the phase and the
 *   tasks still restoring and their progress (readiness).
 * - `GET /metrics`: Prometheus text format.
 * - `GET /stores/<store>?key=K&limit=N&version=V`: a store's committed rows as JSON (at most `limit`, default 100, max
 *   10,000), of version V or else of the topology's live version (else the first version the worker runs).
 *
 * - `GET /sql?q=<statement>&limit=N`: one read-only SQL statement over the stores (see `eddy sql`), with a time
 *   limit; `{ columns, rows, count, truncated }` (at most `limit` rows, default 1,000, max 10,000). A statement that
 *   would write is 400 `SQL_READ_ONLY`; one past the time limit 408 `SQL_TIMEOUT` (it runs in a child process, killed then).
 *
 * Queries (`/sql`, `/stores`) pass a `QueryGate`: at most `http.maxConcurrentQueries` run at once and
 * `http.maxQueuedQueries` wait; beyond that the answer is 429 `QUERY_OVERLOAD` with `Retry-After` (seconds). A query's
 * time limit (`http.sqlTimeoutMs`) counts from its arrival: waiting for a slot past it is 408 `QUERY_TIMEOUT`.
 * `/health`, `/ready` and `/metrics` never wait behind queries.
 *
 * With a token (`http.token`), every endpoint but `/health` and `/ready` needs `Authorization: Bearer <token>`:
 * 401 otherwise. The token is compared in constant time (of its SHA-256 digest) and never logged.
 *
 * Every response but `/metrics` is JSON. Errors are `{ "error": { "code", "message" } }`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EddyError } from '../errors.js';
import { QUERY_LIMITS_DEFAULT, QueryGate, type QueryLimits } from './query-gate.js';
import type { Readiness } from './runner.js';

/** Default and maximum `limit` of `/stores/<store>`. */
export const STORE_ROWS_DEFAULT = 100;
export const STORE_ROWS_MAX = 10_000;
/** Default time limit of one query (`http.sqlTimeoutMs`), ms. */
export const QUERY_TIMEOUT_MS_DEFAULT = 10_000;
/** Default and maximum `limit` of `/sql`. */
export const SQL_ROWS_DEFAULT = 1_000;
export const SQL_ROWS_MAX = 10_000;

/** What the server serves. */
export interface HttpHandlers {
  readiness(): Readiness;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
  /** Rows of a store, or throws EddyError (`UNKNOWN_STORE`, `NO_STATE` -> 404; `BAD_KEY` -> 400). */
  store?(
    name: string,
    opts: { key?: string; limit: number; version?: number },
  ): Promise<{ rows: readonly Record<string, unknown>[]; truncated: boolean }>;
  /** Runs one read-only SQL statement (`GET /sql`), or throws EddyError (see `STATUS_OF_CODE`). */
  sql?(
    query: string,
    /** `timeoutMs`: the time left of the query's limit once it got a slot, ms. */
    opts: { limit: number; timeoutMs: number },
  ): Promise<{ columns: readonly string[]; rows: readonly Record<string, unknown>[]; truncated: boolean }>;
  /** When set, every endpoint but `/health` and `/ready` requires `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Admission limits of `/sql` and `/stores` (default `QUERY_LIMITS_DEFAULT`). */
  readonly queryLimits?: QueryLimits;
  /** Time limit of one query from its arrival, ms (`http.sqlTimeoutMs`; default 10,000). */
  readonly queryTimeoutMs?: number;
  /** Called with a request's failure (anything but the documented 4xx). */
  onError?(err: unknown, req: { method?: string; url?: string }): void;
}

/** A listening server. */
export interface HttpServerHandle {
  readonly host: string;
  /** The bound port (the real one when asked for port 0). */
  readonly port: number;
  readonly url: string;
  /** Stops listening and closes open connections. Safe to call twice. */
  close(): Promise<void>;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json; charset=utf-8',
): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

const STATUS_OF_CODE: Record<string, number> = {
  UNKNOWN_STORE: 404,
  NO_STATE: 404,
  UNKNOWN_VERSION: 404,
  BAD_KEY: 400,
  SQL_READ_ONLY: 400,
  SQL_QUERY: 400,
  SQL_TIMEOUT: 408,
  QUERY_TIMEOUT: 408,
  QUERY_OVERLOAD: 429,
};

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Whether the request carries `Authorization: Bearer <token>`; constant time in the token's content. */
function authorized(req: IncomingMessage, tokenDigest: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), tokenDigest) && m !== null;
}

async function mapped<T>(res: ServerResponse, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const status = err instanceof EddyError ? STATUS_OF_CODE[err.code] : undefined;
    if (status === undefined) throw err;
    const retryAfter = (err as EddyError).details.retryAfterSeconds;
    if (typeof retryAfter === 'number') res.setHeader('retry-after', String(retryAfter));
    fail(res, status, (err as EddyError).code, (err as Error).message);
    return undefined;
  }
}

async function handle(
  h: HttpHandlers,
  req: IncomingMessage,
  res: ServerResponse,
  tokenDigest: Buffer | undefined,
  gate: QueryGate,
): Promise<void> {
  const timeoutMs = h.queryTimeoutMs ?? QUERY_TIMEOUT_MS_DEFAULT;
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return fail(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed; use GET`);
  }
  const path = url.pathname.replace(/\/+$/, '') || '/';
  if (path === '/health') return send(res, 200, { status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
  if (path === '/ready') {
    const r = h.readiness();
    if (r.ready) return send(res, 200, { ready: true, phase: r.phase, tasks: r.tasks.map((t) => t.task) });
    const restoring = r.tasks.filter((t) => t.state === 'restoring');
    const reason =
      r.phase !== 'running'
        ? `runner is ${r.phase}`
        : `${restoring.length} task(s) restoring: ${restoring.map((t) => t.task).join(', ')}`;
    return send(res, 503, { ready: false, phase: r.phase, reason, restoring, tasks: r.tasks });
  }
  if (tokenDigest !== undefined && !authorized(req, tokenDigest)) {
    res.setHeader('www-authenticate', 'Bearer realm="eddy"');
    return fail(
      res,
      401,
      'UNAUTHORIZED',
      `${path} needs the worker's token (http.token) as "Authorization: Bearer <token>"`,
    );
  }
  if (path === '/metrics') return send(res, 200, await h.metrics(), h.metricsContentType);
  if (path === '/sql' && h.sql) {
    const q = url.searchParams.get('q');
    if (q === null || q.trim() === '') return fail(res, 400, 'BAD_QUERY', 'give the statement as ?q=<SQL>');
    const rawLimit = url.searchParams.get('limit');
    const limit = rawLimit === null ? SQL_ROWS_DEFAULT : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > SQL_ROWS_MAX)
      return fail(res, 400, 'BAD_LIMIT', `limit must be an integer from 1 to ${SQL_ROWS_MAX}, got "${rawLimit}"`);
    const r = await mapped(res, () => gate.run(timeoutMs, (left) => h.sql!(q, { limit, timeoutMs: left })));
    if (r === undefined) return;
    return send(res, 200, { columns: r.columns, count: r.rows.length, truncated: r.truncated, rows: r.rows });
  }
  const m = /^\/stores\/([^/]+)$/.exec(path);
  if (m && h.store) {
    const rawLimit = url.searchParams.get('limit');
    const limit = rawLimit === null ? STORE_ROWS_DEFAULT : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > STORE_ROWS_MAX)
      return fail(res, 400, 'BAD_LIMIT', `limit must be an integer from 1 to ${STORE_ROWS_MAX}, got "${rawLimit}"`);
    const store = decodeURIComponent(m[1]);
    const key = url.searchParams.get('key') ?? undefined;
    const rawVersion = url.searchParams.get('version');
    const version = rawVersion === null ? undefined : Number(rawVersion);
    if (version !== undefined && (!Number.isInteger(version) || version < 1))
      return fail(res, 400, 'BAD_VERSION', `version must be an integer >= 1, got "${rawVersion}"`);
    const r = await mapped(res, () => gate.run(timeoutMs, () => h.store!(store, { key, limit, version })));
    if (r === undefined) return;
    return send(res, 200, { store, key: key ?? null, count: r.rows.length, truncated: r.truncated, rows: r.rows });
  }
  fail(
    res,
    404,
    'NOT_FOUND',
    `no route ${path}; try /health, /ready, /metrics${h.store ? ', /stores/<store>?key=K' : ''}${h.sql ? ', /sql?q=<SQL>' : ''}`,
  );
}

/** Starts the server on `host:port` (port 0: any free port). Resolves once listening. */
export async function startHttpServer(opts: {
  host: string;
  port: number;
  handlers: HttpHandlers;
}): Promise<HttpServerHandle> {
  const h = opts.handlers;
  const tokenDigest = h.token === undefined ? undefined : digest(h.token);
  const gate = new QueryGate(h.queryLimits ?? QUERY_LIMITS_DEFAULT);
  const server: Server = createServer((req, res) => {
    handle(h, req, res, tokenDigest, gate).catch((err) => {
      h.onError?.(err, { method: req.method, url: req.url });
      if (!res.headersSent)
        fail(
          res,
          500,
          err instanceof EddyError ? err.code : 'INTERNAL',
          err instanceof Error ? err.message : String(err),
        );
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new EddyError(
          'HTTP_LISTEN',
          `cannot listen on ${opts.host}:${opts.port} (${err.code ?? err.message}); set another http.port (EDDY_HTTP_PORT, --http-port; 0 = any free port) or http.host`,
          { details: { host: opts.host, port: opts.port }, cause: err },
        ),
      ),
    );
    server.listen(opts.port, opts.host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => h.onError?.(err, {}));
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    host: addr.address,
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
