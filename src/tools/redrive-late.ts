/**
 * Before a re-drive writes: which re-driven copies would be late again. The version that dead-lettered a record is
 * the one that processes its copy (src/runtime/redriven.ts); a copy whose windows that version has already closed
 * (its stream time for the window processor has passed window end + grace) is dead-lettered again as late, as
 * Kafka Streams drops a record for a closed window. Stream times come from the version's committed offsets'
 * metadata (what its tasks resume with).
 */
import type { Log } from '../log/contract.js';
import { NO_STREAM_TIME, type WindowSpec, windowsFor } from '../processors/window.js';
import type { Topology } from '../topology/graph.js';
import type { DeadLetter } from './dlq.js';

/** The copies a re-drive would send into closed windows of one window processor. */
export interface LateRedrive {
  /** The window processor (its stream time is what closed the windows). */
  readonly processor: string;
  readonly store: string;
  /** Copies whose every window is closed. */
  readonly count: number;
  /** The closed windows they fall in (distinct, oldest first), epoch ms, end exclusive. */
  readonly windows: readonly { readonly startMs: number; readonly endMs: number }[];
  /**
   * True when the processor reads after a repartition: the copy's partition there is not known before it runs, so
   * the lowest stream time of its partitions is used and `count` is a lower bound.
   */
  readonly lowerBound: boolean;
}

/** The committed stream times of `group` per partition of `topic` (offset metadata), processor -> ms. */
async function streamTimesOf(log: Log, group: string, topic: string): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>();
  if ((await log.describeTopic(topic)) === undefined) return out;
  for (const [p, c] of await log.committedOffsets(group, topic)) {
    try {
      out.set(p, c.metadata ? (JSON.parse(c.metadata) as Record<string, number>) : {});
    } catch {
      out.set(p, {}); // metadata not written by eddy: no stream times
    }
  }
  return out;
}

/**
 * The re-driven copies of `dls` (dead letters of `topology`, the version that will process their copies) that would
 * fall only into windows already closed, per window processor. A dead letter's time is its record timestamp (the
 * source record's; a source with a timestamp extractor may see another event time). Returns one entry per processor
 * with at least one late copy.
 */
export async function lateRedrives(log: Log, topology: Topology, dls: readonly DeadLetter[]): Promise<LateRedrive[]> {
  const out: LateRedrive[] = [];
  for (const node of topology.nodes) {
    if (node.kind !== 'window-aggregate') continue;
    const store = node.stores.map((s) => topology.stores.get(s)).find((s) => s?.window !== undefined);
    if (store?.window === undefined) continue;
    const sub = topology.subtopologies.find((s) => s.nodes.includes(node.id));
    if (sub === undefined) continue;
    const times = new Map<string, Map<number, Record<string, number>>>();
    for (const topic of sub.sourceTopics) times.set(topic, await streamTimesOf(log, topology.groupId, topic));
    const direct = (topic: string, partition: number) => times.get(topic)?.get(partition)?.[node.name];
    let lowest = Number.MAX_SAFE_INTEGER;
    for (const parts of times.values())
      for (const t of parts.values()) lowest = Math.min(lowest, t[node.name] ?? NO_STREAM_TIME);
    if (lowest === Number.MAX_SAFE_INTEGER) lowest = NO_STREAM_TIME;
    const windows = new Map<number, { startMs: number; endMs: number }>();
    let count = 0;
    let lowerBound = false;
    for (const dl of dls) {
      const s = dl.source;
      if (s === undefined) continue;
      const streamTimeMs = sub.sourceTopics.includes(s.topic) ? direct(s.topic, s.partition) : lowest;
      if (!sub.sourceTopics.includes(s.topic)) lowerBound = true;
      const closed = closedWindows(store.window, dl.record.timestamp, streamTimeMs ?? NO_STREAM_TIME);
      if (closed === undefined) continue;
      count++;
      for (const w of closed) windows.set(w.startMs, w);
    }
    if (count > 0)
      out.push({
        processor: node.name,
        store: store.name,
        count,
        windows: [...windows.values()].sort((a, b) => a.startMs - b.startMs),
        lowerBound,
      });
  }
  return out;
}

/** The windows of `timestampMs`, when all of them are closed at `streamTimeMs` (end + grace <= stream time). */
function closedWindows(
  spec: WindowSpec,
  timestampMs: number,
  streamTimeMs: number,
): { startMs: number; endMs: number }[] | undefined {
  const ws = windowsFor(spec, timestampMs);
  return ws.every((w) => w.endMs + spec.graceMs <= streamTimeMs) ? ws : undefined;
}

/** One line per processor: how many copies would be late again, and in which windows (at most `maxWindows`). */
export function describeLateRedrives(late: readonly LateRedrive[], maxWindows = 5): string[] {
  return late.map((l) => {
    const shown = l.windows
      .slice(0, maxWindows)
      .map((w) => `[${new Date(w.startMs).toISOString()}, ${new Date(w.endMs).toISOString()})`);
    const more = l.windows.length > maxWindows ? ` and ${l.windows.length - maxWindows} more` : '';
    return `warning: ${l.lowerBound ? 'at least ' : ''}${l.count} re-driven record(s) fall in windows of ${l.processor} (store ${l.store}) that are already closed (stream time past window end + grace): they would be dead-lettered again as late. Windows: ${shown.join(', ')}${more}`;
  });
}
