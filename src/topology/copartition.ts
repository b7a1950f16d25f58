import { ConfigError } from '../errors.js';
import type { Topology } from './graph.js';

/**
 * Co-partitioning (Kafka Streams' copartition groups): the topics one sub-topology reads together (a stream and the
 * table it joins, two joined tables, their repartition topics) must have equal partition counts, since its task N
 * reads partition N of each. `countOf` gives an external input's partition count. Returns the count each
 * repartition topic without a fixed count must get to match the external inputs read beside it (Kafka Streams sizes
 * such repartition topics the same way).
 * @throws ConfigError naming the sub-topology and every topic with its count, when external inputs differ or a
 *   repartition topic's fixed count (`partitions`) differs from them; thrown before anything is written.
 */
export function coPartitionedCounts(t: Topology, countOf: (topic: string) => number): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of t.subtopologies) {
    const inputs = s.sourceTopics.filter((x) => t.topics.get(x)?.role === 'source');
    if (inputs.length === 0) continue;
    const counts = inputs.map((x) => [x, countOf(x)] as const);
    const n = counts[0][1];
    const repartitions = s.sourceTopics.filter((x) => t.topics.get(x)?.role === 'repartition');
    const fixed = repartitions
      .filter((x) => t.topics.get(x)!.partitions !== undefined)
      .map((x) => [x, t.topics.get(x)!.partitions!] as const);
    const all = [...counts, ...fixed];
    if (new Set(all.map((c) => c[1])).size > 1)
      throw new ConfigError(
        `sub-topology ${s.id} reads topics that are not co-partitioned: ${all.map(([x, p]) => `${x} (${p})`).join(', ')}. Give them the same number of partitions.`,
      );
    for (const x of repartitions) if (t.topics.get(x)!.partitions === undefined) out.set(x, n);
  }
  return out;
}
