/**
 * Running a query with a statement time limit (the worker's `GET /sql`): better-sqlite3 cannot interrupt a running
 * statement, so the query runs in a worker thread over the plan, and the thread is terminated past the limit.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EddyError } from '../errors.js';
import type { SqlPlan } from './plan.js';
import type { SqlResult } from './session.js';

/** The statement ran past its time limit and was stopped. */
export class SqlTimeoutError extends EddyError {
  constructor(timeoutMs: number) {
    super(
      'SQL_TIMEOUT',
      `the query ran past ${timeoutMs} ms (http.sqlTimeoutMs) and was stopped; narrow it (WHERE, LIMIT) or run it with eddy sql`,
      { details: { timeoutMs } },
    );
  }
}

/**
 * Runs `sql` over `plan` in a worker thread; rejects with `SqlTimeoutError` past `timeoutMs`, or with an EddyError of
 * the query's code (`SQL_READ_ONLY`, `SQL_QUERY`, `SQL_DECODE`). Needs the compiled `thread.js` beside this module.
 */
export function runSqlWithTimeout(plan: SqlPlan, sql: string, o: { timeoutMs: number; maxRows?: number }): Promise<SqlResult> {
  const entry = fileURLToPath(new URL('./thread.js', import.meta.url));
  if (!existsSync(entry))
    return Promise.reject(new EddyError('SQL_THREAD', `${entry} is missing: build eddy (npx tsc) to serve /sql`));
  return new Promise<SqlResult>((resolve, reject) => {
    const w = new Worker(entry, { workerData: { plan, sql, maxRows: o.maxRows } });
    const timer = setTimeout(() => {
      void w.terminate();
      reject(new SqlTimeoutError(o.timeoutMs));
    }, o.timeoutMs);
    w.once('message', (m: { ok?: SqlResult; error?: { code: string; message: string } }) => {
      clearTimeout(timer);
      void w.terminate();
      if (m.ok !== undefined) resolve(m.ok);
      else reject(new EddyError(m.error!.code, m.error!.message));
    });
    w.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
