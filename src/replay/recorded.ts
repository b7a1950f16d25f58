/**
 * Readers use what was recorded: the stores of a version were written by the code its fingerprint describes, which
 * need not be today's code (a window size changed without a new version, a schema edited). `eddy run` refuses such a
 * mismatch; readers (`eddy inspect`, `eddy sql`, `eddy diff`) instead read the stored data as it was written — window
 * sizes and store schemas from the version's recorded fingerprint in the versions registry — and say in one line that
 * the code differs.
 */
import type { AvroSchema } from '../schema/types.js';
import type { StoreInfo, Topology } from '../topology/graph.js';
import { type FingerprintGuarantee, fingerprintChanges, fingerprintOf } from './fingerprint.js';
import type { VersionsSnapshot } from './registry.js';

/** A topology as its version's stores were written, and how today's code differs from that (empty: it does not). */
export interface RecordedView {
  readonly topology: Topology;
  /** `fingerprintChanges(recorded, code)`, e.g. `window size of x changed 86400000 ms → 172800000 ms`. */
  readonly changes: readonly string[];
}

/**
 * `t` with each store's window spec and key and value schemas as the versions registry recorded them for
 * `t.name` v`t.version` (`window:<store>`, `store:<store>` components of the recorded fingerprint). A version never
 * recorded, or recorded with today's fingerprint, is `t` itself with no changes. Stores the code no longer has are
 * not added (a reader names a store through the code).
 */
export function recordedView(t: Topology, snap: VersionsSnapshot): RecordedView {
  const rec = snap.versions.get(`${t.name}.v${t.version}`);
  if (rec === undefined) return { topology: t, changes: [] };
  const guarantee = parseJson(rec.fingerprint.components.guarantee) as FingerprintGuarantee | undefined;
  const code = fingerprintOf(t, guarantee === undefined ? {} : { processingGuarantee: guarantee });
  if (code.hash === rec.fingerprint.hash) return { topology: t, changes: [] };
  const stores = new Map<string, StoreInfo>();
  for (const [name, s] of t.stores) {
    const part = parseJson(rec.fingerprint.components[`store:${name}`]) as
      | { key?: AvroSchema; value?: AvroSchema }
      | undefined;
    const window = parseJson(rec.fingerprint.components[`window:${name}`]) as
      | { sizeMs: number; advanceMs: number; graceMs: number }
      | undefined;
    stores.set(name, {
      ...s,
      keySchema: part?.key ?? s.keySchema,
      valueSchema: part?.value ?? s.valueSchema,
      window: window === undefined || s.window === undefined ? s.window : { ...s.window, ...window },
    });
  }
  return { topology: { ...t, stores }, changes: fingerprintChanges(rec.fingerprint, code) };
}

/** The one line readers print when the code differs from what the stores were written with. */
export function recordedNote(t: Topology, changes: readonly string[]): string {
  return `note: the code of ${t.name} v${t.version} differs from what its stores were written with (${changes.join('; ')}); showing the stored data as recorded. Run the changed code as a new version (eddy replay --version ${t.version + 1}).`;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
