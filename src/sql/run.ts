/**
 * Running a query with a statement time limit (the worker's `GET /sql`): better-sqlite3 cannot interrupt a running
 * statement, so the query runs in a child process over the plan (sent over IPC), killed past the limit.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
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

type Reply = { started?: true; ok?: SqlResult; error?: { code: string; message: string } };

/**
 * Runs `sql` over `plan` in a child process at below-normal CPU priority; rejects with `SqlTimeoutError` past
 * `timeoutMs` (counted from this call: the child's start and the tables the statement names included), or with an EddyError of the query's code
 * (`SQL_READ_ONLY`, `SQL_QUERY`, `SQL_DECODE`). Needs the compiled `query-process.js` beside this module.
 */
export function runSqlWithTimeout(
  plan: SqlPlan,
  sql: string,
  o: { timeoutMs: number; maxRows?: number },
): Promise<SqlResult> {
  const entry = fileURLToPath(new URL('./query-process.js', import.meta.url));
  if (!existsSync(entry))
    return Promise.reject(new EddyError('SQL_PROCESS', `${entry} is missing: build eddy (npx tsc) to serve /sql`));
  return new Promise<SqlResult>((resolve, reject) => {
    const child = fork(entry, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    // Below the worker's priority: a heavy query takes the CPU the processing loop leaves, not the other way round.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, constants.priority.PRIORITY_BELOW_NORMAL);
      } catch {
        // not allowed here (some containers): the query gate's bound on concurrent queries still holds
      }
    }
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4_000) stderr += d;
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    // Counted from the fork, not from the child's first message: a slow start is part of the query's time.
    const timer = setTimeout(
      () =>
        settle(() => {
          child.kill('SIGKILL');
          reject(new SqlTimeoutError(o.timeoutMs));
        }),
      o.timeoutMs,
    );
    child.on('message', (m: Reply) => {
      if (m.started) {
        child.send({ plan, sql, maxRows: o.maxRows });
        return;
      }
      settle(() => (m.ok !== undefined ? resolve(m.ok) : reject(new EddyError(m.error!.code, m.error!.message))));
    });
    child.once('error', (err) => settle(() => reject(err)));
    child.once('exit', (code, signal) =>
      settle(() =>
        reject(
          new EddyError(
            'SQL_PROCESS',
            `the query process exited (${signal ?? code}) without an answer: ${stderr.trim()}`,
          ),
        ),
      ),
    );
  });
}
