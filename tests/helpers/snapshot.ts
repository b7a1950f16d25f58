import type { Log } from '../../src/log/contract.js';
import { readStore } from '../../src/runtime/inspect.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import type { Topology } from '../../src/topology/graph.js';

/** Everything a run produced that must not depend on crashes or restarts: store contents and output records. */
export interface RunSnapshot {
  stores: Record<string, Record<string, unknown>[]>;
  /** topic -> partition -> records as `key|value|timestamp|headers` (hex), in offset order */
  topics: Record<string, string[][]>;
}

/** Reads the stores (from their SQLite files) and the output and dead-letter topics of `t`. */
export async function snapshot(
  log: Log,
  registry: SchemaRegistry,
  stateDir: string,
  t: Topology,
): Promise<RunSnapshot> {
  const stores: RunSnapshot['stores'] = {};
  for (const s of t.stores.values()) stores[s.name] = await readStore({ stateDir, topology: t, store: s, registry });
  const topics: RunSnapshot['topics'] = {};
  for (const info of t.topics.values()) {
    if (info.role !== 'output' && info.role !== 'dlq') continue;
    const parts: string[][] = [];
    for (const o of await log.offsets(info.name)) {
      const recs: string[] = [];
      for await (const b of log.read({ topic: info.name, partition: o.partition }))
        for (const r of b) {
          const h = Object.keys(r.headers)
            .sort()
            .map((k) => `${k}=${r.headers[k].toString('hex')}`)
            .join(',');
          recs.push(`${r.key?.toString('hex')}|${r.value?.toString('hex')}|${r.timestamp}|${h}`);
        }
      parts.push(recs);
    }
    topics[info.name] = parts;
  }
  return { stores, topics };
}
