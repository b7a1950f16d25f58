/**
 * A runner's link to the versions registry (`eddy.meta.versions`, src/replay/registry.ts) while it runs:
 * - every `REGISTRY_SYNC_MS` and at the end, each version's committed input positions are recorded, and a
 *   `replaying` version near the end of its inputs moves to `caught-up` (and to `live` when there is none;
 *   `advanceCaughtUp`, which a worker also applies every `FOLLOW_CHECK_MS`, src/runtime/follow.ts);
 * - every `RETIRED_CHECK_MS` the registry is read (no write) to learn that a version run here was retired
 *   (`eddy retire`): the runner is then told to stop, and `eddy retire` deletes the version's topics and state once
 *   no run of it is open any more.
 * Registry trouble never stops processing: it is reported through `onWarning`.
 */
import type { Log } from '../log/contract.js';
import { tpKey } from '../log/contract.js';
import { DEFAULT_MAX_LAG_RECORDS } from '../replay/promote.js';
import {
  liveVersionOf,
  recordPositions,
  setVersionState,
  type VersionState,
  type VersionsSnapshot,
  VersionsTail,
  versionIn,
} from '../replay/registry.js';
import { inputLag } from '../replay/status.js';
import type { Topology } from '../topology/graph.js';
import { versionId } from '../topology/names.js';

/** How often a running runner records its versions' committed positions in the versions registry, ms. */
export const REGISTRY_SYNC_MS = 30_000;

/**
 * How often a running runner reads the versions registry for a retired version, ms. A runner that finds one of its
 * versions recorded `retired` stops (see `TopologyRunner.retiredVersions`).
 */
export const RETIRED_CHECK_MS = 2_000;

/** Periodic registry work of one runner; `start()` when the run starts, `stop()` then `sync(atEnd)` when it ends. */
export class RegistrySync {
  private syncTimer?: NodeJS.Timeout;
  private retiredTimer?: NodeJS.Timeout;
  private checking = false;
  private retiredNow: number[] = [];
  /** The registry as last read by the retired check or a sync (each refresh reads only what was appended since). */
  private tail?: VersionsTail;

  constructor(
    private readonly o: {
      readonly log: Log;
      readonly versions: readonly Topology[];
      /** ms between two reads of the registry for a retired version; default `RETIRED_CHECK_MS`. */
      readonly retiredCheckMs?: number;
      /** Called once, with the version numbers found retired; the runner stops. */
      readonly onRetired: (versions: readonly number[]) => void;
      readonly onWarning?: (event: string, message: string) => void;
    },
  ) {}

  /** The versions found `retired` (empty while none was). */
  get retired(): readonly number[] {
    return this.retiredNow;
  }

  start(): void {
    this.syncTimer = setInterval(() => void this.sync(false), REGISTRY_SYNC_MS);
    this.syncTimer.unref();
    this.retiredTimer = setInterval(() => void this.checkRetired(), this.o.retiredCheckMs ?? RETIRED_CHECK_MS);
    this.retiredTimer.unref();
  }

  stop(): void {
    clearInterval(this.syncTimer);
    clearInterval(this.retiredTimer);
  }

  /** Reads the registry; reports (once) the versions run here that are recorded `retired`. */
  async checkRetired(): Promise<void> {
    if (this.checking || this.retiredNow.length > 0) return;
    this.checking = true;
    try {
      const snap = await this.registry().refresh();
      const retired = this.o.versions
        .filter((t) => snap.versions.get(versionId(t.name, t.version))?.state === 'retired')
        .map((t) => t.version);
      if (retired.length === 0 || this.retiredNow.length > 0) return;
      this.retiredNow = retired;
      this.o.onRetired(retired);
    } catch (err) {
      this.o.onWarning?.('versions-registry', err instanceof Error ? err.message : String(err));
    } finally {
      this.checking = false;
    }
  }

  private registry(): VersionsTail {
    this.tail ??= new VersionsTail(this.o.log);
    return this.tail;
  }

  /**
   * Records each version's committed input positions in the versions registry, and moves a `replaying` version that
   * reached the end of its inputs (`atEnd`), or is within `DEFAULT_MAX_LAG_RECORDS` of it on every input partition,
   * to `caught-up` (and to `live` when the topology has no live version yet). A retired version is left as it is
   * (`eddy retire` deletes its group and topics). A position that would move backwards is refused by the registry and
   * reported through `onWarning`.
   *
   * Reads: the registry tail once per sync (what was appended since the last refresh), again (as little) before
   * making a version live, and in full only inside the registry's writes, each made only when it changes something.
   */
  async sync(atEnd: boolean): Promise<void> {
    const { log } = this.o;
    const snapshot = this.registry().refresh();
    snapshot.catch(() => {}); // a failed read is reported below, once per version
    for (const t of this.o.versions) {
      try {
        if (this.retiredNow.includes(t.version)) continue;
        const rec = versionIn(await snapshot, t.name, t.version);
        let state: VersionState = rec.state;
        if (state === 'retired') continue;
        const positions: Record<string, number> = {};
        for (const info of t.topics.values()) {
          if (info.role !== 'source') continue;
          for (const [p, c] of await log.committedOffsets(t.groupId, info.name))
            positions[tpKey(info.name, p)] = c.offset;
        }
        // Positions as recorded (an idle version): `recordPositions` would write nothing; skip its read.
        if (Object.entries(positions).some(([tp, o]) => rec.positions[tp] !== o))
          state = (await recordPositions(log, t.name, t.version, positions)).state;
        await advanceCaughtUp(log, t, state, { atEnd, registry: () => this.registry().refresh() });
      } catch (err) {
        this.o.onWarning?.('versions-registry', `${t.groupId}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

/**
 * The state moves a runner makes for a version it runs (what `eddy replay` does at the inputs' end, for a worker too):
 * a `replaying` version at the end of its inputs (`atEnd`), or within `DEFAULT_MAX_LAG_RECORDS` of it on every input
 * partition, moves to `caught-up`; a `caught-up` version becomes `live` when its topology has no live version (the
 * first version to catch up: there is nothing to switch readers from). `state` is the version's recorded state;
 * `registry` reads the registry (a `VersionsTail` refresh) before making it live. Returns the state it is left in.
 * Throws what the registry's reads and writes throw.
 */
export async function advanceCaughtUp(
  log: Log,
  t: Topology,
  state: VersionState,
  o: { atEnd: boolean; registry: () => Promise<VersionsSnapshot> },
): Promise<VersionState> {
  if (state === 'replaying') {
    const caughtUp = o.atEnd || (await inputLag(log, t)).every((l) => l.lagRecords <= DEFAULT_MAX_LAG_RECORDS);
    if (!caughtUp) return state;
    await setVersionState(log, t.name, t.version, 'caught-up');
    state = 'caught-up';
  }
  if (state === 'caught-up' && liveVersionOf(await o.registry(), t.name) === undefined) {
    await setVersionState(log, t.name, t.version, 'live');
    state = 'live';
  }
  return state;
}
