/**
 * Re-driven records (`eddy dlq <topology> redrive`, src/tools/dlq.ts): what a re-driven copy is to every version.
 *
 * A re-driven copy stands in for its original, once. The version that dead-lettered the original (the copy came
 * from *its* dead-letter topic) decided the original by dead-lettering it: the copy is its second chance, and it
 * processes the copy. Every other version reads the original itself (versions replay their inputs from the
 * beginning, and the copy is appended after the original in the same partition), decides it with its own code, and
 * skips the copy, counting it (`RunStats.redrivenSkipped`, `redriven_skipped` in `eddy runs`). Exception: when the
 * original's offset is below its partition's log start as the version reads the copy (retention deleted it), the
 * version never saw the original and processes the copy instead. (A version that read the original and lost it to
 * time retention before it read the copy would process both; eddy creates inputs with no time retention.)
 *
 * Kafka Streams has no re-drive (its DLQ, KIP-1034, leaves re-processing to the user); the rule is eddy's, so that a
 * replay over a range holding both the original and its copy counts the record exactly once.
 */
import type { Headers, LogRecord } from '../log/contract.js';
import type { Topology } from '../topology/graph.js';

/** Header naming the dead letter a re-driven record came from: `<dead-letter topic>:<partition>:<offset>`. */
export const REDRIVE_OF_HEADER = 'eddy.redrive.of';
/** Header naming the version that dead-lettered the original: its group id, e.g. `flight-delays.v1`. */
export const REDRIVE_VERSION_HEADER = 'eddy.redrive.version';
/** Header naming the original record: `<topic>:<partition>:<offset>` (the copy's own topic and partition). */
export const REDRIVE_SOURCE_HEADER = 'eddy.redrive.source';

/** What the `eddy.redrive.*` headers of a re-driven copy say. */
export interface RedrivenCopy {
  /** `<dead-letter topic>:<partition>:<offset>`. */
  readonly deadLetter: string;
  /** The group id of the version that dead-lettered the original (`eddy.redrive.version`, else from the DLQ's name). */
  readonly version: string;
  /** The original's offset, when recorded (copies re-driven before `eddy.redrive.source` existed have none). */
  readonly originalOffset?: number;
}

/** The copy's `eddy.redrive.*` headers, or undefined for a record that is not a re-driven copy. */
export function redrivenCopyOf(headers: Headers): RedrivenCopy | undefined {
  const of = headers[REDRIVE_OF_HEADER]?.toString('utf8');
  if (of === undefined) return undefined;
  const dlqTopic = of.slice(0, of.lastIndexOf(':', of.lastIndexOf(':') - 1));
  const version = headers[REDRIVE_VERSION_HEADER]?.toString('utf8') ?? dlqTopic.replace(/\.dlq$/, '');
  const source = headers[REDRIVE_SOURCE_HEADER]?.toString('utf8');
  const offset = source === undefined ? undefined : Number(source.slice(source.lastIndexOf(':') + 1));
  return { deadLetter: of, version, originalOffset: Number.isInteger(offset) ? offset : undefined };
}

/**
 * True when `topology` (one version) skips `copy` (see the module doc): another version dead-lettered the original,
 * and the original is still on the log (`logStartOffset`: the partition's first offset as the copy is read). A copy
 * with no recorded original offset is skipped by every other version.
 */
export function skipsRedrivenCopy(topology: Topology, copy: RedrivenCopy, logStartOffset: number): boolean {
  if (copy.version === topology.groupId) return false;
  return copy.originalOffset === undefined || copy.originalOffset >= logStartOffset;
}

/**
 * Drops from a decoded batch of one partition the re-driven copies `topology` skips; `onSkipped(n)` counts them.
 * `logStart` is asked only when a batch holds a copy of another version's dead letter (one look-up per batch).
 * Returns the batch unchanged (same object) when nothing is skipped.
 */
export async function withoutSkippedCopies<
  T extends { readonly ok: readonly { raw: LogRecord }[]; readonly bad: readonly { raw: LogRecord }[] },
>(topology: Topology, decoded: T, logStart: () => Promise<number>, onSkipped: (n: number) => void): Promise<T> {
  let start: number | undefined;
  const skipped = new Set<LogRecord>();
  for (const r of [...decoded.ok, ...decoded.bad]) {
    const copy = redrivenCopyOf(r.raw.headers);
    if (copy === undefined || copy.version === topology.groupId) continue;
    start ??= await logStart();
    if (skipsRedrivenCopy(topology, copy, start)) skipped.add(r.raw);
  }
  if (skipped.size === 0) return decoded;
  onSkipped(skipped.size);
  return {
    ...decoded,
    ok: decoded.ok.filter((r) => !skipped.has(r.raw)),
    bad: decoded.bad.filter((r) => !skipped.has(r.raw)),
  };
}
