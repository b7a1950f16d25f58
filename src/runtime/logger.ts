/**
 * Structured JSON logs (pino), one object per line on stdout. Every line eddy writes has an `event` field
 * (`start`, `assigned`, `restore`, `restored`, `ready`, `commit`, `revoked`, `shutdown`, `stopped`, `error`, ...)
 * so that log pipelines can select on it without parsing messages.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { EddyError } from '../errors.js';

export type { Logger };

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** pino level: fatal, error, warn, info, debug, trace or silent. Default `info`. */
  readonly level?: string;
  /** Where lines go; default stdout, written synchronously (lines are never lost on `process.exit`). */
  readonly destination?: DestinationStream;
  /** Fields on every line (e.g. the topology's group id). */
  readonly base?: Record<string, unknown>;
}

/** A pino logger: ISO timestamps, level names, `err` serialized with eddy's `code`, `retriable` and `details`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'eddy', pid: process.pid, ...opts.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** An error as a plain object: type, message, eddy's `code`/`retriable`/`details`, stack, cause. */
export function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  if (err instanceof EddyError) {
    out.code = err.code;
    out.retriable = err.retriable;
    if (Object.keys(err.details).length > 0) out.details = err.details;
  } else if ('code' in err && err.code !== undefined) out.code = err.code;
  if (err.stack) out.stack = err.stack;
  if (err.cause !== undefined) out.cause = serializeError(err.cause);
  return out;
}

/** The stable code of an error (eddy's `code`, or a Node system error code), `UNEXPECTED` otherwise. */
export function errorCode(err: unknown): string {
  if (err instanceof EddyError) return err.code;
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
  return 'UNEXPECTED';
}
