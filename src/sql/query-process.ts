/**
 * Child-process entry of `runSqlWithTimeout` (./run.ts): receives a plan and one statement over IPC, runs it, sends
 * the result (or the error's code and message) back and exits. A process, not a worker thread: a statement running
 * inside SQLite cannot be interrupted from JavaScript (better-sqlite3 exposes no `sqlite3_interrupt`), and a thread
 * busy in native code cannot be terminated, but a process can always be killed.
 */
import { EddyError } from '../errors.js';
import type { SqlPlan } from './plan.js';
import { SqlSession } from './session.js';

process.once('message', (m: { plan: SqlPlan; sql: string; maxRows?: number }) => {
  const session = new SqlSession(m.plan);
  let reply: unknown;
  try {
    reply = { ok: session.query(m.sql, { maxRows: m.maxRows }) };
  } catch (err) {
    reply = {
      error: {
        code: err instanceof EddyError ? err.code : 'SQL_QUERY',
        message: err instanceof Error ? err.message : String(err),
      },
    };
  } finally {
    session.close();
  }
  process.send!(reply, () => process.exit(0));
});
// modules are loaded: the statement's time limit starts now
process.send!({ started: true });
