/**
 * Worker-thread entry of `runSqlWithTimeout` (./run.ts): runs one query over a plan and posts the result (or the
 * error's code and message) back. The parent terminates the thread when the statement outlasts its time limit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EddyError } from '../errors.js';
import type { SqlPlan } from './plan.js';
import { SqlSession } from './session.js';

const { plan, sql, maxRows } = workerData as { plan: SqlPlan; sql: string; maxRows?: number };
const session = new SqlSession(plan);
try {
  parentPort!.postMessage({ ok: session.query(sql, { maxRows }) });
} catch (err) {
  parentPort!.postMessage({
    error: { code: err instanceof EddyError ? err.code : 'SQL_QUERY', message: err instanceof Error ? err.message : String(err) },
  });
} finally {
  session.close();
}
