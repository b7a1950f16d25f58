/** `GET /sql` of a worker: the stores of the versions it runs (the live one as `<store>`), with a time limit. */
import type { Log } from '../log/contract.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';
import { sqlPlanFor } from './catalog.js';
import { runSqlWithTimeout } from './run.js';
import type { SqlResult } from './session.js';

/** Default time limit of one statement, ms (`http.sqlTimeoutMs`). */
export const SQL_TIMEOUT_MS_DEFAULT = 10_000;

/**
 * Runs `sql` over every store of the versions the worker runs (each as `<store>_v<N>`, the live one also as
 * `<store>`), in a child process stopped once `timeoutMs` (from this call, planning included) has passed. Rejects as
 * `runSqlWithTimeout` does.
 */
export async function workerSql(
  w: { topology: Topology; versions?: readonly Topology[]; log: Log; registry: SchemaRegistry; stateDir: string },
  sql: string,
  o: { maxRows: number; timeoutMs?: number },
): Promise<SqlResult> {
  const started = Date.now();
  const timeoutMs = o.timeoutMs ?? SQL_TIMEOUT_MS_DEFAULT;
  const versions = w.versions ?? [w.topology];
  const plan = await sqlPlanFor({ log: w.log, registry: w.registry, stateDir: w.stateDir, topologies: [versions] });
  // every version it runs, not only the live one
  const all = await sqlPlanFor({
    log: w.log,
    registry: w.registry,
    stateDir: w.stateDir,
    topologies: versions.map((v) => [v]),
  });
  const names = new Set(plan.tables.flatMap((t) => t.names));
  const tables = [...plan.tables, ...all.tables.map((t) => ({ ...t, names: t.names.filter((n) => !names.has(n)) }))];
  return runSqlWithTimeout({ tables: tables.filter((t) => t.names.length > 0) }, sql, {
    timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
    maxRows: o.maxRows,
  });
}
