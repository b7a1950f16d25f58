/**
 * Consumer-group membership for the embedded log, shared by every process that opens the same file.
 *
 * - `log_group_members`: one row per live member with a heartbeat time (a lease). A member whose heartbeat is
 *   older than the session timeout is expired by any other member's heartbeat.
 * - `log_groups`: a generation per group, bumped on every join, leave and expiry; members poll it to notice
 *   membership changes.
 * - `log_group_claims`: which member owns which topic-partition right now. A member starts reading a
 *   partition only after claiming it, and a claim is only granted when the previous owner released it (after
 *   its `onRevoked`) or is no longer a member; so two live members never read one partition at once.
 *
 * Assignment is a pure function of the sorted member ids and the subscribed topics (`assignSlots`).
 *
 * Crashed processes: a member row also records its host (see `localHostId`) and pid. Every connection
 * sharing a WAL-mode SQLite file runs on one host, so when a member of the same host and pid namespace has a
 * pid that no longer exists, it is expired at once instead of after the session timeout: a worker restarted
 * after SIGKILL takes its partitions back immediately. (A reused pid only delays this to the lease expiry.)
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import type { TopicPartition } from '../contract.js';
import { tpKey } from '../contract.js';

/** A unit of assignment: with co-partitioning, partition p of every subscribed topic; otherwise one partition. */
export interface Slot {
  /** `p3` (co-partitioned) or `topic:3`. */
  readonly id: string;
  readonly tps: readonly TopicPartition[];
}

/**
 * The assignment units for a subscription. Topics are taken in name order (deterministic across members).
 * Co-partitioned: slots `0..max(partitions)-1`, slot p holding partition p of every topic that has it.
 * Otherwise: one slot per topic-partition, ordered by topic then partition.
 */
export function computeSlots(topics: readonly { name: string; partitions: number }[], coPartitioned: boolean): Slot[] {
  const sorted = [...topics].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const slots: Slot[] = [];
  if (coPartitioned) {
    const max = sorted.reduce((m, t) => Math.max(m, t.partitions), 0);
    for (let p = 0; p < max; p++) {
      const tps = sorted.filter((t) => p < t.partitions).map((t) => ({ topic: t.name, partition: p }));
      slots.push({ id: `p${p}`, tps });
    }
  } else {
    for (const t of sorted) {
      for (let p = 0; p < t.partitions; p++)
        slots.push({ id: tpKey(t.name, p), tps: [{ topic: t.name, partition: p }] });
    }
  }
  return slots;
}

/**
 * Round-robin assignment: slot i goes to the member at index `i % members.length` of the member ids sorted
 * by code unit order. Returns the slots of `memberId` (none if it is not among `members`).
 */
export function assignSlots(slots: readonly Slot[], members: readonly string[], memberId: string): Slot[] {
  const sorted = [...members].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const index = sorted.indexOf(memberId);
  if (index < 0) return [];
  return slots.filter((_, i) => i % sorted.length === index);
}

let hostId: string | undefined;

/**
 * Identifies the process namespace this process runs in: hostname, plus on Linux the boot id and the pid
 * namespace (so two containers sharing the file never judge each other's pids).
 */
export function localHostId(): string {
  if (hostId !== undefined) return hostId;
  const parts = [hostname()];
  try {
    parts.push(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    parts.push(readlinkSync('/proc/self/ns/pid'));
  } catch {
    // not Linux: the hostname alone
  }
  hostId = parts.join('|');
  return hostId;
}

/** True unless signal 0 to `pid` reports that no such process exists. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code !== 'ESRCH';
  }
}

/** Synchronous SQL for group membership, generations and partition claims. */
export class GroupStore {
  private readonly s;

  /**
   * @param db the log's connection.
   * @param writeTx runs a function in one `BEGIN IMMEDIATE` transaction (the store's `writeTx`).
   */
  constructor(
    db: Database.Database,
    private readonly writeTx: <T>(fn: () => T) => T,
  ) {
    this.s = {
      bump: db.prepare(
        'INSERT INTO log_groups (group_id, generation) VALUES (?, 1) ' +
          'ON CONFLICT (group_id) DO UPDATE SET generation = generation + 1',
      ),
      generation: db.prepare('SELECT generation FROM log_groups WHERE group_id = ?').pluck(),
      insertMember: db.prepare(
        'INSERT OR REPLACE INTO log_group_members (group_id, member_id, heartbeat_at, joined_at, host, pid) ' +
          'VALUES (?, ?, ?, ?, ?, ?)',
      ),
      localMembers: db.prepare(
        'SELECT member_id, pid FROM log_group_members WHERE group_id = ? AND host = ? AND pid <> ?',
      ),
      touch: db.prepare('UPDATE log_group_members SET heartbeat_at = ? WHERE group_id = ? AND member_id = ?'),
      expired: db.prepare('SELECT member_id FROM log_group_members WHERE group_id = ? AND heartbeat_at < ?').pluck(),
      deleteMember: db.prepare('DELETE FROM log_group_members WHERE group_id = ? AND member_id = ?'),
      deleteClaimsOf: db.prepare('DELETE FROM log_group_claims WHERE group_id = ? AND member_id = ?'),
      members: db.prepare('SELECT member_id FROM log_group_members WHERE group_id = ?').pluck(),
      liveMembers: db
        .prepare('SELECT member_id FROM log_group_members WHERE group_id = ? AND heartbeat_at >= ?')
        .pluck(),
      deleteGroupMembers: db.prepare('DELETE FROM log_group_members WHERE group_id = ?'),
      deleteGroupClaims: db.prepare('DELETE FROM log_group_claims WHERE group_id = ?'),
      isMember: db.prepare('SELECT 1 FROM log_group_members WHERE group_id = ? AND member_id = ?').pluck(),
      claimOwner: db
        .prepare('SELECT member_id FROM log_group_claims WHERE group_id = ? AND topic = ? AND partition = ?')
        .pluck(),
      claimsOf: db.prepare('SELECT topic, partition FROM log_group_claims WHERE group_id = ? AND member_id = ?'),
      upsertClaim: db.prepare(
        'INSERT INTO log_group_claims (group_id, topic, partition, member_id) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (group_id, topic, partition) DO UPDATE SET member_id = excluded.member_id',
      ),
      deleteClaim: db.prepare(
        'DELETE FROM log_group_claims WHERE group_id = ? AND topic = ? AND partition = ? AND member_id = ?',
      ),
    };
  }

  /** Adds a member (heartbeat = now), expires stale members, bumps the generation. */
  join(groupId: string, memberId: string, now: number, sessionTimeoutMs: number): void {
    this.writeTx(() => {
      this.expireInTx(groupId, now, sessionTimeoutMs);
      this.s.insertMember.run(groupId, memberId, now, now, localHostId(), process.pid);
      this.s.bump.run(groupId);
    });
  }

  /**
   * Renews a member's lease and expires members whose heartbeat is older than `sessionTimeoutMs`
   * (deleting their claims; bumps the generation if any). If this member itself was expired meanwhile, it
   * re-joins (bumping the generation) and `rejoined` is true: its claims are gone.
   */
  heartbeat(groupId: string, memberId: string, now: number, sessionTimeoutMs: number): { rejoined: boolean } {
    return this.writeTx(() => {
      const touched = this.s.touch.run(now, groupId, memberId).changes;
      this.expireInTx(groupId, now, sessionTimeoutMs);
      if (touched === 0) {
        this.s.insertMember.run(groupId, memberId, now, now, localHostId(), process.pid);
        this.s.bump.run(groupId);
        return { rejoined: true };
      }
      return { rejoined: false };
    });
  }

  /** Removes a member and its claims, bumps the generation. */
  leave(groupId: string, memberId: string): void {
    this.writeTx(() => {
      this.s.deleteClaimsOf.run(groupId, memberId);
      this.s.deleteMember.run(groupId, memberId);
      this.s.bump.run(groupId);
    });
  }

  /** The group's generation (0 if it never had a member). */
  generation(groupId: string): number {
    return (this.s.generation.get(groupId) as number | undefined) ?? 0;
  }

  /** Member ids currently in the group (leases not yet expired by anyone), sorted. */
  members(groupId: string): string[] {
    return (this.s.members.all(groupId) as string[]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Members of the group whose lease is still running at `now` (a heartbeat within `sessionTimeoutMs`). */
  liveMembers(groupId: string, now: number, sessionTimeoutMs: number): string[] {
    return this.s.liveMembers.all(groupId, now - sessionTimeoutMs) as string[];
  }

  /**
   * Forgets the expired members and claims of a group with no live member; call inside `writeTx`. The generation
   * row stays, so a member that comes back from a long pause still sees the generation change.
   */
  deleteGroupInTx(groupId: string): void {
    this.s.deleteGroupMembers.run(groupId);
    this.s.deleteGroupClaims.run(groupId);
  }

  /** The `${topic}:${partition}` keys currently claimed by a member. */
  claimsOf(groupId: string, memberId: string): Set<string> {
    const rows = this.s.claimsOf.all(groupId, memberId) as { topic: string; partition: number }[];
    return new Set(rows.map((r) => tpKey(r.topic, r.partition)));
  }

  /**
   * Claims whole slots for a member, in one transaction: a slot is claimed only if each of its partitions is
   * unclaimed, already ours, or claimed by a member that is no longer in the group.
   * @returns the slots now owned by `memberId`.
   */
  tryClaim(groupId: string, memberId: string, slots: readonly Slot[]): Slot[] {
    return this.writeTx(() => {
      if (this.s.isMember.get(groupId, memberId) === undefined) return [];
      const claimed: Slot[] = [];
      for (const slot of slots) {
        const free = slot.tps.every((tp) => {
          const owner = this.s.claimOwner.get(groupId, tp.topic, tp.partition) as string | undefined;
          return owner === undefined || owner === memberId || this.s.isMember.get(groupId, owner) === undefined;
        });
        if (!free) continue;
        for (const tp of slot.tps) this.s.upsertClaim.run(groupId, tp.topic, tp.partition, memberId);
        claimed.push(slot);
      }
      return claimed;
    });
  }

  /** Releases a member's claims on the given partitions (after its `onRevoked`). */
  release(groupId: string, memberId: string, tps: readonly TopicPartition[]): void {
    this.writeTx(() => {
      for (const tp of tps) this.s.deleteClaim.run(groupId, tp.topic, tp.partition, memberId);
    });
  }

  /** Removes members whose lease ran out or whose local process is gone, with their claims. */
  private expireInTx(groupId: string, now: number, sessionTimeoutMs: number): void {
    const expired = this.s.expired.all(groupId, now - sessionTimeoutMs) as string[];
    const local = this.s.localMembers.all(groupId, localHostId(), process.pid) as { member_id: string; pid: number }[];
    for (const m of local)
      if (m.pid > 0 && !processExists(m.pid) && !expired.includes(m.member_id)) expired.push(m.member_id);
    for (const m of expired) {
      this.s.deleteClaimsOf.run(groupId, m);
      this.s.deleteMember.run(groupId, m);
    }
    if (expired.length > 0) this.s.bump.run(groupId);
  }
}
