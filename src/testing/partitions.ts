import { ConfigError } from '../errors.js';
import { coPartitionedCounts } from '../topology/copartition.js';
import type { Topology } from '../topology/graph.js';

/** The input topics of a topology: sources and global tables' topics. */
export function inputsOf(t: Topology): string[] {
  return [...t.topics.values()].filter((i) => i.role === 'source' || i.role === 'global').map((i) => i.name);
}

/**
 * The partition count of every topic of `t`, as the runtime's setup gives them: inputs as `given` (default 1),
 * internal and output topics their own `partitions`, else the largest source count.
 * @throws ConfigError for a count given for a topic that is not an input, a count below 1, or sources of one
 *   sub-topology that are not co-partitioned (the runtime refuses those too).
 */
export function partitionCounts(t: Topology, given: Readonly<Record<string, number>>): Map<string, number> {
  for (const [topic, n] of Object.entries(given)) {
    const info = t.topics.get(topic);
    if (info === undefined || (info.role !== 'source' && info.role !== 'global'))
      throw new ConfigError(
        `partitions: "${topic}" is not an input topic of ${t.name}; inputs: ${inputsOf(t).join(', ')}. Set the partitions of outputs in the topology (output(name, { partitions })).`,
        { topic },
      );
    if (!Number.isInteger(n) || n < 1)
      throw new ConfigError(`partitions: "${topic}" must be an integer >= 1, got ${JSON.stringify(n)}`, { topic });
  }
  const out = new Map<string, number>();
  let inputPartitions = 1;
  for (const info of t.topics.values()) {
    if (info.role !== 'source' && info.role !== 'global') continue;
    const n = given[info.name] ?? 1;
    out.set(info.name, n);
    if (info.role === 'source') inputPartitions = Math.max(inputPartitions, n);
  }
  for (const [topic, n] of coPartitionedCounts(t, (x) => out.get(x)!)) out.set(topic, n);
  for (const info of t.topics.values()) if (!out.has(info.name)) out.set(info.name, info.partitions ?? inputPartitions);
  return out;
}
