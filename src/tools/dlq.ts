/**
 * Dead-letter triage (`eddy dlq <topology> summary | show | redrive`). A dead letter (src/runtime/records.ts) carries
 * the original key and value bytes of the record that failed (unless they were too large: then
 * `eddy.dlq.original-bytes` gives their size), the reason (`eddy.dlq.reason`), the processor (`eddy.dlq.processor`),
 * the input offset that made it (`eddy.source.topic|partition|offset`) and the topology version (`eddy.topology`).
 *
 * Re-drive sends the original key and value bytes back to the source topic, to the source partition, with headers
 * `eddy.redrive.of` = `<dead-letter topic>:<partition>:<offset>`, `eddy.redrive.version` = the version that
 * dead-lettered it (e.g. `flight-delays.v1`) and `eddy.redrive.source` = the original's `<topic>:<partition>:<offset>`.
 * The copy stands in for its original, once: the version that dead-lettered it processes the copy, every other
 * version skips it and decides the original itself (src/runtime/redriven.ts). Each dead letter is re-driven at most once, ever:
 * every re-driven record is recorded in the compacted topic `eddy.meta.redrive` (key: the dead letter's
 * coordinates) in the same transaction as the re-driven record, so an interrupted re-drive run again sends only what
 * was not committed. One transactional id per dead-letter topic (`eddy.redrive.<topic>`) fences a concurrent
 * re-drive of the same topic, and the record of what was sent is read after fencing.
 */
import type { Headers, Log, LogRecord, ProducerRecord } from '../log/contract.js';
import { DLQ_ORIGINAL_BYTES } from '../runtime/records.js';
import { REDRIVE_OF_HEADER, REDRIVE_SOURCE_HEADER, REDRIVE_VERSION_HEADER } from '../runtime/redriven.js';
import { HEADERS } from '../runtime/serdes.js';
import { topicConfigFor } from '../topology/topic-config.js';
import { isoTime, type WriterDecoder } from './decode.js';

/** The compacted topic recording which dead letters were re-driven (1 partition, key = dead-letter coordinates). */
export const REDRIVE_TOPIC = 'eddy.meta.redrive';
/** Header naming the dead letter a re-driven record came from: `<dlq topic>:<partition>:<offset>`. */
export const REDRIVE_HEADER = REDRIVE_OF_HEADER;
/** Format of the JSON values of `eddy.meta.redrive`. */
export const REDRIVE_FORMAT = 1;

/** One dead letter, with what its headers say. */
export interface DeadLetter {
  /** `<dlq topic>:<partition>:<offset>`. */
  readonly coordinates: string;
  readonly record: LogRecord;
  readonly reason: string;
  readonly processor: string;
  /** The input offset that made it (from `eddy.source.*`), if recorded. */
  readonly source?: { readonly topic: string; readonly partition: number; readonly offset: number };
  /** `eddy.topology`: the topology version that dead-lettered it, e.g. `flight-delays.v1`. */
  readonly topology?: string;
  /** Set when the original key and value were too large to keep: their size, bytes. */
  readonly originalBytes?: number;
}

/** Reads a dead letter's headers. */
export function deadLetterOf(r: LogRecord): DeadLetter {
  const h = (name: string) => r.headers[name]?.toString('utf8');
  const topic = h(HEADERS.sourceTopic);
  const original = h(DLQ_ORIGINAL_BYTES);
  return {
    coordinates: `${r.topic}:${r.partition}:${r.offset}`,
    record: r,
    reason: h(HEADERS.dlqReason) ?? '(no reason recorded)',
    processor: h(HEADERS.dlqProcessor) ?? '(unknown)',
    source:
      topic === undefined
        ? undefined
        : { topic, partition: Number(h(HEADERS.sourcePartition) ?? -1), offset: Number(h(HEADERS.sourceOffset) ?? -1) },
    topology: h(HEADERS.topology),
    originalBytes: original === undefined ? undefined : Number(original),
  };
}

/** A reason with its numbers replaced by `N`, so that similar reasons group: `delay 912 > 600` → `delay N > N`. */
export function normaliseReason(reason: string): string {
  return reason.replace(/-?\d+(\.\d+)?/g, 'N');
}

/**
 * True when `reason` (the `--reason` filter) selects `dl`: the dead letter's reason contains it, or its normalised
 * reason is it (a reason as `dlq summary` prints it, numbers as `N`, selects its whole group).
 */
export function reasonMatches(dl: DeadLetter, reason: string | undefined): boolean {
  return reason === undefined || dl.reason.includes(reason) || normaliseReason(dl.reason) === reason;
}

/** Every dead letter of a topic (read_committed), optionally only those `reasonMatches` selects. Absent topic: none. */
export async function readDeadLetters(log: Log, topic: string, reason?: string): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  if ((await log.describeTopic(topic)) === undefined) return out;
  for (const p of await log.offsets(topic))
    for await (const batch of log.read({ topic, partition: p.partition }))
      for (const r of batch) {
        const dl = deadLetterOf(r);
        if (reasonMatches(dl, reason)) out.push(dl);
      }
  return out;
}

/** One row of `dlq summary`: dead letters per (normalised reason, processor, source topic), most first. */
export type SummaryRow = {
  readonly reason: string;
  readonly processor: string;
  readonly source_topic: string;
  readonly count: number;
  /** The first dead letter of the group, `<dlq topic>:<partition>:<offset>`. */
  readonly first: string;
};

/** Counts dead letters by normalised reason, processor and source topic (most first, then by reason). */
export function summarize(dls: readonly DeadLetter[]): SummaryRow[] {
  const groups = new Map<string, { -readonly [K in keyof SummaryRow]: SummaryRow[K] }>();
  for (const dl of dls) {
    const reason = normaliseReason(dl.reason);
    const source = dl.source?.topic ?? '(unknown)';
    const k = JSON.stringify([reason, dl.processor, source]);
    const g = groups.get(k);
    if (g) g.count++;
    else groups.set(k, { reason, processor: dl.processor, source_topic: source, count: 1, first: dl.coordinates });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

/** A dead letter for display: provenance, reason, original key and value decoded where possible. */
export async function showDeadLetter(d: WriterDecoder, dl: DeadLetter): Promise<Record<string, unknown>> {
  const key = await d.decode(dl.record.key);
  const value = await d.decode(dl.record.value);
  return {
    dead_letter: dl.coordinates,
    timestamp: isoTime(dl.record.timestamp),
    processor: dl.processor,
    reason: dl.reason,
    source: dl.source ? `${dl.source.topic}:${dl.source.partition}:${dl.source.offset}` : '',
    key: dl.originalBytes !== undefined ? `(not kept: ${dl.originalBytes} bytes)` : key.value,
    value: dl.originalBytes !== undefined ? `(not kept: ${dl.originalBytes} bytes)` : value.value,
    ...(value.error !== undefined
      ? { decode_error: value.error }
      : key.error !== undefined
        ? { decode_error: key.error }
        : {}),
  };
}

/** Coordinates of the dead letters already re-driven (`eddy.meta.redrive`, read_committed). */
export async function redrivenCoordinates(log: Log): Promise<Set<string>> {
  const done = new Set<string>();
  if ((await log.describeTopic(REDRIVE_TOPIC)) === undefined) return done;
  for await (const batch of log.read({ topic: REDRIVE_TOPIC, partition: 0 }))
    for (const r of batch) if (r.key !== null && r.value !== null) done.add(r.key.toString('utf8'));
  return done;
}

/** What a re-drive would do: the dead letters to send, those already re-driven, and those it refuses (with why). */
export interface RedrivePlan {
  readonly send: readonly DeadLetter[];
  readonly already: readonly DeadLetter[];
  readonly refused: readonly { readonly deadLetter: DeadLetter; readonly why: string }[];
}

/**
 * Plans a re-drive of `dls`. Refused: a dead letter without provenance, whose bytes were not kept, whose source topic
 * is not one of `sourceTopics` (the topology's inputs: a dead letter of a repartition topic cannot be re-driven
 * there) or no longer has the source partition, or whose bytes differ from the source record still on the log (it was
 * dead-lettered downstream of a repartition, with that topic's key and value).
 */
export async function planRedrive(
  log: Log,
  dls: readonly DeadLetter[],
  sourceTopics: ReadonlySet<string>,
): Promise<RedrivePlan> {
  const done = await redrivenCoordinates(log);
  const send: DeadLetter[] = [];
  const already: DeadLetter[] = [];
  const refused: { deadLetter: DeadLetter; why: string }[] = [];
  const partitionsOf = new Map<string, number | undefined>();
  for (const dl of dls) {
    if (done.has(dl.coordinates)) {
      already.push(dl);
      continue;
    }
    const why = await refusal(log, dl, sourceTopics, partitionsOf);
    if (why === undefined) send.push(dl);
    else refused.push({ deadLetter: dl, why });
  }
  return { send, already, refused };
}

async function refusal(
  log: Log,
  dl: DeadLetter,
  sourceTopics: ReadonlySet<string>,
  partitionsOf: Map<string, number | undefined>,
): Promise<string | undefined> {
  if (dl.originalBytes !== undefined) return `its key and value were too large to keep (${dl.originalBytes} bytes)`;
  const s = dl.source;
  if (s === undefined) return 'it has no eddy.source.* headers';
  if (!sourceTopics.has(s.topic))
    return `its source topic ${s.topic} is not an input of the topology (${[...sourceTopics].join(', ')})`;
  if (!partitionsOf.has(s.topic)) partitionsOf.set(s.topic, (await log.describeTopic(s.topic))?.partitions);
  const partitions = partitionsOf.get(s.topic);
  if (partitions === undefined) return `its source topic ${s.topic} does not exist`;
  if (!(s.partition >= 0 && s.partition < partitions)) return `${s.topic} has no partition ${s.partition}`;
  const offsets = (await log.offsets(s.topic)).find((o) => o.partition === s.partition);
  if (offsets !== undefined && s.offset >= offsets.low && s.offset < offsets.high) {
    for await (const batch of log.read(
      { topic: s.topic, partition: s.partition },
      { fromOffset: s.offset, toOffset: s.offset + 1 },
    )) {
      const src = batch.find((r) => r.offset === s.offset);
      if (src !== undefined && !(same(src.key, dl.record.key) && same(src.value, dl.record.value)))
        return `its key and value are not those of ${s.topic}:${s.partition}:${s.offset} (it was dead-lettered after a repartition); fix the source record and produce it again`;
    }
  }
  return undefined;
}

const same = (a: Buffer | null, b: Buffer | null) => (a === null || b === null ? a === b : a.equals(b));

/**
 * The record a dead letter re-drives: original key and value to the source partition, with `eddy.redrive.of`,
 * `eddy.redrive.version` (from `eddy.topology`, else the dead-letter topic's name) and `eddy.redrive.source`.
 */
export function redriveRecord(dl: DeadLetter): ProducerRecord {
  const headers: Headers = {};
  for (const [k, v] of Object.entries(dl.record.headers)) if (!k.startsWith('eddy.')) headers[k] = v;
  const s = dl.source!;
  headers[REDRIVE_HEADER] = Buffer.from(dl.coordinates);
  headers[REDRIVE_VERSION_HEADER] = Buffer.from(dl.topology ?? dl.record.topic.replace(/\.dlq$/, ''));
  headers[REDRIVE_SOURCE_HEADER] = Buffer.from(`${s.topic}:${s.partition}:${s.offset}`);
  return {
    topic: dl.source!.topic,
    partition: dl.source!.partition,
    key: dl.record.key,
    value: dl.record.value,
    headers,
    timestamp: dl.record.timestamp,
  };
}

/** Options of `redrive`. */
export interface RedriveOptions {
  readonly log: Log;
  /** The dead-letter topic. */
  readonly topic: string;
  /** The topology's input topics (where dead letters may be re-driven). */
  readonly sourceTopics: ReadonlySet<string>;
  /** Only dead letters `reasonMatches` selects. */
  readonly reason?: string;
  /** Dead letters per transaction (default 500). */
  readonly batchRecords?: number;
  /** Called in each transaction after its records are sent and before its commit (batch index from 0). */
  readonly beforeCommit?: (batchIndex: number) => void | Promise<void>;
  /** Called with the plan before anything is sent (e.g. to warn of copies that would be late again). */
  readonly onPlan?: (plan: RedrivePlan) => void | Promise<void>;
  /** Called after each committed transaction with the dead letters re-driven so far. */
  readonly onProgress?: (sent: number, total: number) => void;
}

/**
 * Re-drives the dead letters of `topic` that the plan sends, in transactions that each append the re-driven records
 * and their entries in `eddy.meta.redrive` together. Fences any other re-drive of the same topic first, then plans
 * (so that what another run committed is seen). Returns the plan that was carried out.
 * @throws whatever the log throws (the transaction in flight is aborted: nothing of it is visible, and a run again
 *   re-drives it); ProducerFencedError when another re-drive of the same topic started meanwhile.
 */
export async function redrive(o: RedriveOptions): Promise<RedrivePlan> {
  await o.log.createTopics([
    { name: REDRIVE_TOPIC, partitions: 1, compacted: true, config: topicConfigFor('changelog') },
  ]);
  const producer = o.log.producer({ transactionalId: `eddy.redrive.${o.topic}` });
  try {
    await producer.init?.();
    const plan = await planRedrive(o.log, await readDeadLetters(o.log, o.topic, o.reason), o.sourceTopics);
    await o.onPlan?.(plan);
    const batchRecords = o.batchRecords ?? 500;
    let sent = 0;
    for (let i = 0; i * batchRecords < plan.send.length; i++) {
      const slice = plan.send.slice(i * batchRecords, (i + 1) * batchRecords);
      const tx = await producer.transaction();
      try {
        const nowMs = Date.now();
        tx.send(slice.map(redriveRecord));
        tx.send(
          slice.map((dl) => ({
            topic: REDRIVE_TOPIC,
            partition: 0,
            key: Buffer.from(dl.coordinates),
            value: Buffer.from(
              JSON.stringify({
                format: REDRIVE_FORMAT,
                deadLetter: dl.coordinates,
                to: `${dl.source!.topic}:${dl.source!.partition}`,
                reason: dl.reason,
                redrivenMs: nowMs,
              }),
            ),
            timestamp: nowMs,
          })),
        );
        await o.beforeCommit?.(i);
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
      sent += slice.length;
      o.onProgress?.(sent, plan.send.length);
    }
    return plan;
  } finally {
    await producer.close();
  }
}
