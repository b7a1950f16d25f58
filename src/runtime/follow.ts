/**
 * A worker following the versions registry (`eddy.meta.versions`, src/replay/registry.ts) while it runs: every
 * `FOLLOW_CHECK_MS` it reads the registry's tail (only what was appended since the last read) and learns
 * - which versions its code defines that it does not run but should: recorded `caught-up` (an `eddy replay` reached the
 *   inputs' end), `live` (promoted) or `superseded` (still served until retired), with no open `eddy replay` of them
 *   (a replay reads through a reader group of its own: both would own every task and fence each other, KIP-98). The
 *   worker then runs them beside the others, from their committed positions (`Worker`, src/runtime/worker.ts).
 *   A version still `replaying` is left to its `eddy replay` (a worker started afterwards runs it too), and one whose
 *   recorded fingerprint differs from the code's is not started (a warning says so);
 * - which versions it runs are `replaying` yet near the end of their inputs: they move to `caught-up`, and to `live`
 *   when the topology has no live version (`advanceCaughtUp`, as `eddy replay` and the runner's registry sync do).
 * Retired versions are found by the runner itself (src/runtime/registry-sync.ts, `retiredVersions`).
 */
import type { Log } from '../log/contract.js';
import { type FingerprintGuarantee, fingerprintChanges, fingerprintOf } from '../replay/fingerprint.js';
import { type VersionState, VersionsTail } from '../replay/registry.js';
import { openRunsOf } from '../replay/retire.js';
import type { Topology } from '../topology/graph.js';
import { versionId } from '../topology/names.js';
import { advanceCaughtUp } from './registry-sync.js';

/** How often a worker reads the versions registry for versions to start or move to caught-up / live, ms. */
export const FOLLOW_CHECK_MS = 2_000;

/** The recorded states in which a worker runs a version its code defines without being told to. */
export const FOLLOWED_STATES: readonly VersionState[] = ['caught-up', 'live', 'superseded'];

/** What a worker learns from one read of the registry. */
export interface FollowCheck {
  /** Versions the code defines, not run now, to start (sorted by version). */
  readonly start: readonly Topology[];
  /**
   * Versions the code defines, not run now, recorded `live` but not startable yet (an `eddy replay` of them is open):
   * the worker must not exit while there are some.
   */
  readonly waiting: readonly Topology[];
}

/** Reads the versions registry for one worker; one instance per worker (it keeps the registry's tail). */
export class VersionFollower {
  private readonly tail: VersionsTail;
  private readonly mismatched = new Set<number>();

  constructor(
    private readonly o: {
      readonly log: Log;
      /** Every version of the topology the worker's code defines (that it may run). */
      readonly defined: readonly Topology[];
      /** The worker's processing guarantee (part of the fingerprint). */
      readonly processingGuarantee?: FingerprintGuarantee;
      /** Called once per version whose recorded fingerprint differs from the code's: it is not started. */
      readonly onMismatch?: (t: Topology, changes: readonly string[]) => void;
    },
  ) {
    this.tail = new VersionsTail(o.log);
  }

  /**
   * Which defined versions not in `running` to start, and which live ones must wait (see `FollowCheck`). Reads the
   * registry's tail, and the run records (`eddy.meta.runs`) only when a version would start. Throws what the reads
   * throw.
   */
  async check(running: readonly Topology[]): Promise<FollowCheck> {
    const snap = await this.tail.refresh();
    const runs = new Set(running.map((t) => t.version));
    const start: Topology[] = [];
    const waiting: Topology[] = [];
    for (const t of this.o.defined) {
      if (runs.has(t.version)) continue;
      const rec = snap.versions.get(versionId(t.name, t.version));
      const state = rec?.state;
      if (rec === undefined || state === undefined || !FOLLOWED_STATES.includes(state)) continue;
      // Recorded by other code than this worker's: never run (the runner's setup would refuse it and fail the worker).
      const fp = fingerprintOf(t, { processingGuarantee: this.o.processingGuarantee });
      if (fp.hash !== rec.fingerprint.hash) {
        if (!this.mismatched.has(t.version)) this.o.onMismatch?.(t, fingerprintChanges(rec.fingerprint, fp));
        this.mismatched.add(t.version);
        continue;
      }
      const replaying = (await openRunsOf(this.o.log, t.name, t.version)).some((r) => r.kind === 'replay');
      if (!replaying) start.push(t);
      else if (state === 'live') waiting.push(t);
    }
    start.sort((a, b) => a.version - b.version);
    return { start, waiting };
  }

  /**
   * Moves each version of `running` recorded `replaying` whose lag is within the caught-up bound to `caught-up`, and
   * to `live` when its topology has none (`advanceCaughtUp`). Returns the versions that moved, with their new state.
   */
  async catchUp(running: readonly Topology[]): Promise<{ version: number; state: VersionState }[]> {
    const moved: { version: number; state: VersionState }[] = [];
    for (const t of running) {
      const rec = (await this.tail.refresh()).versions.get(versionId(t.name, t.version));
      if (rec?.state !== 'replaying') continue;
      const state = await advanceCaughtUp(this.o.log, t, rec.state, {
        atEnd: false,
        registry: () => this.tail.refresh(),
      });
      if (state !== rec.state) moved.push({ version: t.version, state });
    }
    return moved;
  }
}
