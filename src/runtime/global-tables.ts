import { UnknownTopicError } from '../errors.js';
import type { Log } from '../log/contract.js';
import type { ReadonlyGlobalTable } from '../processors/context.js';
import { keyId, type Serde } from '../state/stores.js';
import type { Topology } from '../topology/graph.js';
import type { TopologySerdes } from './serdes.js';

/** An in-memory global table, bootstrapped from its compacted topic. */
export class GlobalTableView<K, V> implements ReadonlyGlobalTable<K, V> {
  private readonly rows = new Map<string, V>();
  /** Next offset to read, per partition. */
  readonly positions = new Map<number, number>();
  /** Records that could not be decoded (skipped). */
  skipped = 0;

  /** @param keySerde the topic's key serde: keys are identified by their serialized bytes, as in state stores. */
  constructor(
    readonly name: string,
    readonly topic: string,
    private readonly keySerde: Serde<K>,
  ) {}

  get(key: K): V | undefined {
    return this.rows.get(keyId(key, this.keySerde));
  }

  get size(): number {
    return this.rows.size;
  }

  /** @internal */
  set(key: K, value: V | null): void {
    if (value === null) this.rows.delete(keyId(key, this.keySerde));
    else this.rows.set(keyId(key, this.keySerde), value);
  }
}

/**
 * Bootstraps every global table of `t` by reading its topic to the current end (Kafka Streams bootstraps
 * global stores the same way before processing starts). Throws `UnknownTopicError` if a table's topic is missing.
 * Later records of those topics are picked up by `refresh`.
 */
export async function bootstrapGlobalTables(
  log: Log,
  t: Topology,
  serdes: TopologySerdes,
): Promise<Map<string, GlobalTableView<unknown, unknown>>> {
  const out = new Map<string, GlobalTableView<unknown, unknown>>();
  for (const g of t.globalTables.values()) {
    const desc = await log.describeTopic(g.topic);
    if (desc === undefined)
      throw new UnknownTopicError(
        g.topic,
        (await log.listTopics()).map((x) => x.name),
      );
    const view = new GlobalTableView<unknown, unknown>(g.name, g.topic, serdes.topic(g.topic).key);
    for (let p = 0; p < desc.partitions; p++) view.positions.set(p, 0);
    await refresh(log, view, serdes);
    out.set(g.name, view);
  }
  return out;
}

/** Reads a global table's topic from its positions to the current end. Returns the number of records applied. */
export async function refresh(
  log: Log,
  view: GlobalTableView<unknown, unknown>,
  serdes: TopologySerdes,
): Promise<number> {
  const s = serdes.topic(view.topic);
  let n = 0;
  for (const [p, from] of view.positions) {
    for await (const batch of log.read({ topic: view.topic, partition: p }, { fromOffset: from })) {
      const ids = new Set<number>();
      for (const r of batch) if (r.value !== null && r.value.length >= 5) ids.add(r.value.readInt32BE(1));
      for (const id of ids) await s.value.prepare([id]).catch(() => undefined);
      const kids = new Set<number>();
      for (const r of batch) if (r.key !== null && r.key.length >= 5) kids.add(r.key.readInt32BE(1));
      for (const id of kids) await s.key.prepare([id]).catch(() => undefined);
      for (const r of batch) {
        try {
          if (r.key === null) throw new Error('no key');
          view.set(s.key.deserialize(r.key), r.value === null ? null : s.value.deserialize(r.value));
          n++;
        } catch {
          view.skipped++;
        }
        view.positions.set(p, r.offset + 1);
      }
    }
  }
  return n;
}
