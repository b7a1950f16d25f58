/**
 * Event time from the record (issue "Debug a pipeline after it ran", item 10): a source may take its records' event
 * time from a field of the value or a function of the record instead of the log timestamp (Kafka Streams'
 * `TimestampExtractor`). Applied right after decoding, by the runtime and by the test driver alike.
 */
import type { LogRecord } from '../log/contract.js';
import type { Flowing } from '../processors/context.js';
import type { TopicInfo } from '../topology/graph.js';

/**
 * Gives each decoded record of a source the event time its `eventTime` extractor reads; a record whose event time
 * cannot be read (missing, not a number of ms, not an ISO-8601 time) moves to `bad` with the reason. Returns the
 * input unchanged for a topic without an extractor.
 */
export function withEventTime<D extends { ok: Flowing[]; bad: { raw: LogRecord; reason: string }[] }>(
  info: TopicInfo | undefined,
  d: D,
): D {
  const eventTime = info?.eventTime;
  if (eventTime === undefined) return d;
  const ok: Flowing[] = [];
  for (const f of d.ok) {
    try {
      const ms = eventTime.of(f);
      if (!Number.isFinite(ms)) throw new Error(`event time: ${eventTime.description} gave ${ms}, not ms since epoch`);
      ok.push({ ...f, timestamp: ms });
    } catch (err) {
      d.bad.push({ raw: f.raw, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return { ...d, ok };
}
