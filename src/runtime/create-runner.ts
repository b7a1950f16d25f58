import type { Topology } from '../topology/graph.js';
import { TopologyRunner } from './runner.js';
import type { Runner, RunnerOptions } from './runner-types.js';
import { ThreadedRunner, type ThreadsOptions } from './threads/host.js';

/**
 * The runner for the versions of one topology: with `threads` and more than one version, a `ThreadedRunner` (one
 * thread per version, the input fetched once by the host thread); else a `TopologyRunner` (every version in this
 * thread). Throws `ConfigError` as their constructors do.
 */
export function createRunner(
  topologies: readonly Topology[],
  opts: RunnerOptions & { readonly threads?: ThreadsOptions },
): Runner {
  const { threads, ...rest } = opts;
  if (threads !== undefined && topologies.length > 1) return new ThreadedRunner(topologies, { ...rest, threads });
  return new TopologyRunner(topologies, rest);
}
