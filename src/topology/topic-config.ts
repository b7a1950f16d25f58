/**
 * The broker configs eddy gives each topic it creates (DESIGN.md, "Topic configs are part of the design"):
 * a Kappa log keeps its records. eddy's records carry event times that can be years old (the flight-delays demo's
 * are from 2001), so the broker's default time retention (`retention.ms` of 7 days, measured against the record
 * timestamps) would delete them at its next retention check. Hence:
 *
 * | role        | configs                                        | why                                               |
 * |-------------|------------------------------------------------|---------------------------------------------------|
 * | changelog   | `cleanup.policy=compact`, `retention.ms=-1`    | the latest value per key, forever                 |
 * | output, dlq | `retention.ms=-1`                              | results and rejections are kept for replays/diffs |
 * | repartition | `retention.ms=-1`                              | purged by the runtime with `Log.deleteRecords`    |
 * |             |                                                | once committed downstream, never by time          |
 * | source      | `retention.ms=-1`                              | inputs created by eddy (`eddy load`) are the      |
 * |             |                                                | source of truth                                   |
 * | global      | `cleanup.policy=compact`, `retention.ms=-1`    | a table topic created by eddy (`eddy load`)       |
 * | eddy.meta.* | changelog's, and `segment.ms=3600000`          | rewritten every 30 s by running workers: hourly   |
 * |             |                                                | segments let compaction keep them small (Kafka    |
 * |             |                                                | compacts only segments that have rolled)          |
 *
 * The embedded log keeps these configs but deletes nothing by time.
 */
import type { TopicRole } from './graph.js';

/** Kafka topic configs (name to value), as passed in `TopicSpec.config`. */
export type TopicConfig = Readonly<Record<string, string>>;

/** `retention.ms=-1`: Kafka keeps records forever (no time retention). */
export const KEEP_FOREVER: TopicConfig = { 'retention.ms': '-1' };

/**
 * The Kafka configs for a topic eddy creates in `role` (see the table in this file's comment), with `overrides`
 * (per topology, e.g. `{ 'retention.ms': '2592000000' }` for an output that may lose records older than 30 days by
 * event time) applied on top. Note that `checkRetention` (src/runtime/retention.ts) refuses time retention on
 * eddy's own topics (output, dlq, repartition, changelog) when a worker starts.
 */
export function topicConfigFor(role: TopicRole, overrides: TopicConfig = {}): TopicConfig {
  const base: Record<string, string> =
    role === 'changelog' || role === 'global' ? { 'cleanup.policy': 'compact', ...KEEP_FOREVER } : { ...KEEP_FOREVER };
  return { ...base, ...overrides };
}

/**
 * The configs of eddy's own registry topics (`eddy.meta.versions`, `eddy.meta.runs`): compacted, no time retention,
 * and hourly segments (`segment.ms`, default 7 days), since Kafka compacts only rolled segments and running workers
 * rewrite their records every 30 s.
 */
export const META_TOPIC_CONFIG: TopicConfig = { 'cleanup.policy': 'compact', ...KEEP_FOREVER, 'segment.ms': '3600000' };
