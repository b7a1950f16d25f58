/**
 * Admission control for the worker's queries (`GET /sql`, `GET /stores/...`): at most `maxConcurrent` run at once,
 * at most `maxQueued` wait behind them, and the rest are refused at once (HTTP 429 with `Retry-After`), so a storm of
 * queries can neither fork a process per request nor starve the processing loop and `/health`. A query's time limit
 * counts from its arrival: one that waits in the queue past its limit is answered 408 without running.
 */
import { EddyError } from '../errors.js';

/** Limits of a `QueryGate`. */
export interface QueryLimits {
  /** Queries running at once (each `/sql` statement is a child process); >= 1. */
  readonly maxConcurrent: number;
  /** Queries waiting for a slot; beyond this a query is refused with `QUERY_OVERLOAD` (429); >= 0. */
  readonly maxQueued: number;
}

/** Defaults: one query per core of a 2-core machine, and a short queue. */
export const QUERY_LIMITS_DEFAULT: QueryLimits = { maxConcurrent: 2, maxQueued: 32 };

/** Too many queries: `maxConcurrent` run and `maxQueued` wait. Retriable: the answer carries `Retry-After`. */
export class QueryOverloadError extends EddyError {
  constructor(limits: QueryLimits, retryAfterSeconds: number) {
    super(
      'QUERY_OVERLOAD',
      `too many queries: ${limits.maxConcurrent} running and ${limits.maxQueued} waiting (http.maxConcurrentQueries, http.maxQueuedQueries); retry after ${retryAfterSeconds} s`,
      { retriable: true, details: { ...limits, retryAfterSeconds } },
    );
  }
}

/** A query waited for a slot for its whole time limit and did not run. */
export class QueryQueueTimeoutError extends EddyError {
  constructor(timeoutMs: number) {
    super(
      'QUERY_TIMEOUT',
      `the query waited ${timeoutMs} ms (its whole time limit) behind other queries and did not run; retry later or raise http.maxConcurrentQueries`,
      { retriable: true, details: { timeoutMs } },
    );
  }
}

interface Waiter {
  readonly grant: () => void;
  readonly timer: NodeJS.Timeout;
}

/** A counting semaphore with a bounded queue and a per-entry wait limit. */
export class QueryGate {
  private running = 0;
  private readonly queue: Waiter[] = [];
  /** Queries refused (429) and timed out in the queue (408) since start: metrics. */
  refused = 0;
  timedOut = 0;

  constructor(readonly limits: QueryLimits = QUERY_LIMITS_DEFAULT) {
    if (!Number.isInteger(limits.maxConcurrent) || limits.maxConcurrent < 1)
      throw new RangeError(`maxConcurrent must be an integer >= 1, got ${limits.maxConcurrent}`);
    if (!Number.isInteger(limits.maxQueued) || limits.maxQueued < 0)
      throw new RangeError(`maxQueued must be an integer >= 0, got ${limits.maxQueued}`);
  }

  /** Queries running now. */
  get active(): number {
    return this.running;
  }

  /** Queries waiting now. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Runs `fn` when a slot is free, with the time left of `timeoutMs` (ms, counted from this call) as its argument.
   * Throws `QueryOverloadError` at once when the queue is full, `QueryQueueTimeoutError` when no slot freed within
   * `timeoutMs`; otherwise whatever `fn` throws. The slot is released when `fn` settles.
   */
  async run<T>(timeoutMs: number, fn: (remainingMs: number) => Promise<T>): Promise<T> {
    const arrived = Date.now();
    if (this.running >= this.limits.maxConcurrent) {
      if (this.queue.length >= this.limits.maxQueued) {
        this.refused++;
        throw new QueryOverloadError(this.limits, Math.max(1, Math.ceil(timeoutMs / 1000)));
      }
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          grant: () => {
            clearTimeout(waiter.timer);
            resolve();
          },
          timer: setTimeout(() => {
            const i = this.queue.indexOf(waiter);
            if (i >= 0) this.queue.splice(i, 1);
            this.timedOut++;
            reject(new QueryQueueTimeoutError(timeoutMs));
          }, timeoutMs),
        };
        this.queue.push(waiter);
      });
      // the slot was handed over by release(): `running` already counts it
    } else this.running++;
    try {
      return await fn(Math.max(1, timeoutMs - (Date.now() - arrived)));
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.queue.shift();
    if (next !== undefined) next.grant();
    else this.running--;
  }
}
