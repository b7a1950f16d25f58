/**
 * Telling a task that moved from records that were lost. A repartition topic is purged below its committed offset
 * (`VersionRuntime`, as Kafka Streams purges its repartition topics), so a member whose position there is below the
 * log start is either stale (another member owns the task now and committed past the position: Kafka Streams'
 * `TaskMigratedException`) or the records were deleted before anyone read them (retention: lost).
 */
import { EddyError, TaskMigratedError } from '../errors.js';
import type { Log } from '../log/contract.js';
import type { Topology } from '../topology/graph.js';
import { internalSourceTopicsOf } from './version.js';

/**
 * When `err` is a `RecordsDeletedError` (code `RECORDS_DELETED`) on a repartition topic one of `versions` reads, and
 * that version's group has committed the partition at or past the log start the error saw, returns a
 * `TaskMigratedError` (this member is stale; nothing is lost). Otherwise returns `err` unchanged: deleted records
 * nobody committed past stay an error. Reads the group's committed offsets (one call); a failure to read them
 * returns `err` too.
 */
export async function explainRecordsDeleted(log: Log, versions: readonly Topology[], err: unknown): Promise<unknown> {
  // by code, not class: a version thread's error crosses to the host as a plain `EddyError` with its details
  if (!(err instanceof EddyError) || err.code !== 'RECORDS_DELETED') return err;
  const d = err.details as { topic: string; partition: number; position: number; logStart: number };
  const t = versions.find((v) => internalSourceTopicsOf(v).has(d.topic));
  if (t === undefined) return err;
  const committed = await log
    .committedOffsets(t.groupId, d.topic)
    .then((m) => m.get(d.partition)?.offset)
    .catch(() => undefined);
  if (committed === undefined || committed < d.logStart) return err;
  return new TaskMigratedError(t.groupId, d.topic, d.partition, d.position, committed);
}
