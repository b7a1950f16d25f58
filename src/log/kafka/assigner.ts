/**
 * eddy's partition assigner for kafkajs consumer groups: balanced, sticky, and (by default) co-partitioned.
 *
 * Co-partitioned: the unit of assignment is a partition NUMBER; partition p of every subscribed topic goes
 * to the same member (a Kafka Streams task reads partition p of each co-partitioned input). Otherwise the
 * unit is one topic-partition. Sticky: each member sends the partitions it owns in its subscription's user
 * data; the leader lets members keep owned units up to a balanced quota and hands out the rest, so a
 * rebalance moves as few tasks (and their state) as possible. kafkajs rebalances eagerly (no KIP-429
 * cooperative protocol); the consumer turns the new assignment into onRevoked/onAssigned calls by diffing.
 */
import type { Assigner, PartitionAssigner } from 'kafkajs';
import { entry } from './client.js';
import { AssignerProtocol } from './kafkajs.js';

/** The protocol name members announce; all members of a group must use this assigner. */
export const ASSIGNER_NAME = 'EddyCoPartitionedSticky';
const VERSION = 1;

/**
 * Balanced sticky assignment of `units` to `members`: every member gets floor(n/m) or ceil(n/m) units;
 * members keep owned units (a unit claimed twice goes to the first claimant in member order) up to that
 * quota, members owning more get the larger quotas first; the rest go out in unit order.
 * Deterministic for the same inputs. Returns member -> units (in unit order).
 */
export function stickyAssign(
  units: readonly string[],
  members: readonly string[],
  owned: ReadonlyMap<string, readonly string[]>,
): Map<string, string[]> {
  const sortedMembers = [...members].sort();
  const result = new Map<string, string[]>(sortedMembers.map((m) => [m, []]));
  if (sortedMembers.length === 0) return result;
  const order = new Map(units.map((u, i) => [u, i]));
  const taken = new Set<string>();
  const claims = new Map<string, string[]>();
  for (const m of sortedMembers) {
    const mine = (owned.get(m) ?? []).filter((u) => order.has(u) && !taken.has(u));
    mine.sort((a, b) => order.get(a)! - order.get(b)!);
    for (const u of mine) taken.add(u);
    claims.set(m, mine);
  }
  const base = Math.floor(units.length / sortedMembers.length);
  let extra = units.length % sortedMembers.length;
  const byClaims = [...sortedMembers].sort((a, b) => claims.get(b)!.length - claims.get(a)!.length || (a < b ? -1 : 1));
  const quota = new Map<string, number>();
  for (const m of byClaims) {
    quota.set(m, base + (extra > 0 ? 1 : 0));
    if (extra > 0) extra--;
  }
  const assigned = new Set<string>();
  for (const m of sortedMembers) {
    const keep = claims.get(m)!.slice(0, quota.get(m));
    result.set(m, keep);
    for (const u of keep) assigned.add(u);
  }
  const rest = units.filter((u) => !assigned.has(u));
  let i = 0;
  for (const m of sortedMembers) {
    const list = result.get(m)!;
    while (list.length < quota.get(m)! && i < rest.length) list.push(rest[i++]);
    list.sort((a, b) => order.get(a)! - order.get(b)!);
  }
  return result;
}

/**
 * A kafkajs `PartitionAssigner` using `stickyAssign`.
 * @param coPartitioned assign partition numbers across topics together (see the file comment).
 * @param owned this member's current assignment, as `topic:partition` keys (sent as user data).
 */
export function eddyAssigner(coPartitioned: boolean, owned: () => readonly string[]): PartitionAssigner {
  return ({ cluster }) => {
    const unitOf = (topic: string, partition: number): string =>
      coPartitioned ? String(partition) : `${topic}:${partition}`;
    const assigner: Assigner = {
      name: ASSIGNER_NAME,
      version: VERSION,
      async assign({ members, topics }) {
        const tpsOfUnit = new Map<string, { topic: string; partition: number }[]>();
        for (const topic of [...topics].sort()) {
          const partitions = cluster
            .findTopicPartitionMetadata(topic)
            .map((m) => m.partitionId)
            .sort((a, b) => a - b);
          for (const partition of partitions) {
            const unit = unitOf(topic, partition);
            entry(tpsOfUnit, unit, () => []).push({ topic, partition });
          }
        }
        const units = [...tpsOfUnit.keys()].sort(compareUnits);
        const ownedByMember = new Map<string, string[]>();
        for (const m of members) {
          const keys = decodeOwned(m.memberMetadata);
          ownedByMember.set(m.memberId, [
            ...new Set(
              keys.flatMap((k) => {
                const at = k.lastIndexOf(':');
                const partition = Number(k.slice(at + 1));
                return at > 0 && Number.isInteger(partition) ? [unitOf(k.slice(0, at), partition)] : [];
              }),
            ),
          ]);
        }
        const plan = stickyAssign(
          units,
          members.map((m) => m.memberId),
          ownedByMember,
        );
        return members.map(({ memberId }) => {
          const assignment: Record<string, number[]> = {};
          for (const unit of plan.get(memberId) ?? []) {
            for (const { topic, partition } of tpsOfUnit.get(unit) ?? []) {
              assignment[topic] = [...(assignment[topic] ?? []), partition];
            }
          }
          return {
            memberId,
            memberAssignment: AssignerProtocol.MemberAssignment.encode({
              version: VERSION,
              assignment,
              userData: Buffer.alloc(0),
            }),
          };
        });
      },
      protocol({ topics }) {
        const userData = Buffer.from(JSON.stringify({ owned: owned() }));
        return {
          name: ASSIGNER_NAME,
          metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData }),
        };
      },
    };
    return assigner;
  };
}

/** Orders units numerically (partition numbers) or by topic, then partition number. */
function compareUnits(a: string, b: string): number {
  const [ta, pa] = splitUnit(a);
  const [tb, pb] = splitUnit(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return pa - pb;
}

function splitUnit(u: string): [string, number] {
  const at = u.lastIndexOf(':');
  return at < 0 ? ['', Number(u)] : [u.slice(0, at), Number(u.slice(at + 1))];
}

function decodeOwned(metadata: Buffer): string[] {
  try {
    const { userData } = AssignerProtocol.MemberMetadata.decode(metadata) ?? {};
    if (userData === undefined || userData === null || userData.length === 0) return [];
    const parsed = JSON.parse(userData.toString('utf8')) as { owned?: unknown };
    return Array.isArray(parsed.owned) ? parsed.owned.filter((k): k is string => typeof k === 'string') : [];
  } catch {
    return [];
  }
}
