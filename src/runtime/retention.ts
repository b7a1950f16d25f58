/**
 * The start-up check of topic retention (issue 9, item 1): time retention (`retention.ms` >= 0) deletes records
 * whose *timestamp* is older than the limit, and eddy's records carry event times that may be years old, so the
 * broker can delete records before eddy has read them (and did: 5,000 of 9,107 repartition records in one trial).
 * eddy's own topics (outputs, dead-letter topics, repartition topics, changelogs) must keep records forever
 * (`topicConfigFor` in src/topology/topic-config.ts creates them so); external inputs get a warning.
 */
import { ConfigError } from '../errors.js';
import type { Log, TopicDescription } from '../log/contract.js';
import type { TopicRole } from '../topology/graph.js';

/** A topic a topology reads or writes, with its role. */
export interface RetentionCheckTopic {
  readonly name: string;
  readonly role: TopicRole;
}

/** Roles of the topics eddy creates and owns: time retention on them is refused. */
const OWN_ROLES: ReadonlySet<TopicRole> = new Set<TopicRole>(['output', 'dlq', 'repartition', 'changelog']);

/** `604800000` as `604800000 ms (7 days)`. */
function describeMs(ms: number): string {
  const days = ms / 86_400_000;
  return days >= 1 ? `${ms} ms (${Number(days.toFixed(1))} days)` : `${ms} ms`;
}

/** The command that removes time retention from a topic. */
function fixFor(topic: string): string {
  return `kafka-configs --bootstrap-server <broker> --alter --entity-type topics --entity-name ${topic} --add-config retention.ms=-1`;
}

/**
 * Checks the time retention of the topics a topology reads and writes (`Log.describeTopic`'s `retentionMs`;
 * topics that do not exist yet and backends without time retention, the embedded log, are skipped).
 * @returns one warning per external input (`source`, or a `global` table topic that is not compacted) whose
 *   retention is >= 0: records older than it (by event time) may be deleted before eddy reads them.
 * @throws ConfigError naming every topic of eddy's own (output, dlq, repartition, changelog) with `retentionMs`
 *   >= 0, and the fix (`kafka-configs --alter --add-config retention.ms=-1`), before anything is read or written.
 */
export async function checkRetention(log: Log, topics: readonly RetentionCheckTopic[]): Promise<string[]> {
  const described = await Promise.all(topics.map(async (t) => ({ topic: t, d: await log.describeTopic(t.name) })));
  const warnings: string[] = [];
  const refused: { topic: RetentionCheckTopic; d: TopicDescription & { retentionMs: number } }[] = [];
  for (const { topic, d } of described) {
    if (d?.retentionMs === undefined || d.retentionMs < 0) continue;
    const retained = d as TopicDescription & { retentionMs: number };
    if (OWN_ROLES.has(topic.role)) {
      refused.push({ topic, d: retained });
    } else if (topic.role === 'source' || !d.compacted) {
      warnings.push(
        `input topic "${topic.name}" has retention.ms=${describeMs(d.retentionMs)}: the broker deletes records whose ` +
          `event time is older than that, possibly before eddy reads them (eddy then stops with RECORDS_DELETED). ` +
          `To keep them: ${fixFor(topic.name)}`,
      );
    }
  }
  if (refused.length > 0) {
    const lines = refused.map(
      ({ topic, d }) =>
        `  ${topic.role} topic "${topic.name}": retention.ms=${describeMs(d.retentionMs)}; fix: ${fixFor(topic.name)}`,
    );
    throw new ConfigError(
      `eddy's own topics must keep their records forever (retention.ms=-1), but the broker would delete records ` +
        `older than their retention by event time, which for replayed or historical data is at once:\n${lines.join('\n')}`,
      { topics: refused.map(({ topic, d }) => ({ topic: topic.name, role: topic.role, retentionMs: d.retentionMs })) },
    );
  }
  return warnings;
}
