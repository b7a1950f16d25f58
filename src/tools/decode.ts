/**
 * Decoding records of any topic for people to read (`eddy tail`, `eddy dlq show`): a key or value in the Confluent
 * wire format is decoded with its writer schema, looked up by the record's schema id in the registry (no reader
 * schema: what was written is what is shown). Bytes that are not wire-format Avro, or whose id the registry does not
 * know, are shown as text when they are printable UTF-8, else as `base64:<...>`, with the reason kept.
 */
import type { Type } from 'avsc';
import type { Headers, LogRecord } from '../log/contract.js';
import { parseSchema } from '../schema/avro.js';
import { HEADER_SIZE, MAGIC_BYTE } from '../schema/avro-serde.js';
import type { SchemaRegistry } from '../schema/types.js';

/** A decoded key or value: the value, and how it was read. */
export interface DecodedPart {
  /** The decoded value (Avro), the text, the base64 string, or null for a null key/value. */
  readonly value: unknown;
  /** `avro` (with `schemaId`), `text`, `bytes` (base64) or `null`. */
  readonly as: 'avro' | 'text' | 'bytes' | 'null';
  readonly schemaId?: number;
  /** Why the bytes were not decoded as Avro, when they look like wire format but could not be read. */
  readonly error?: string;
}

/** Decodes keys and values by writer schema id; one instance caches each id's schema (and each failure). */
export class WriterDecoder {
  private readonly types = new Map<number, Type | Error>();

  constructor(private readonly registry: SchemaRegistry) {}

  /** Decodes one key or value (never throws: what cannot be decoded is shown as text or base64 with the reason). */
  async decode(buf: Buffer | null): Promise<DecodedPart> {
    if (buf === null) return { value: null, as: 'null' };
    if (buf.length >= HEADER_SIZE && buf[0] === MAGIC_BYTE) {
      const id = buf.readInt32BE(1);
      const type = await this.typeOf(id);
      if (!(type instanceof Error)) {
        try {
          const { value, offset } = type.decode(buf, HEADER_SIZE);
          if (offset === buf.length) return { value, as: 'avro', schemaId: id };
          return {
            ...raw(buf),
            error: `not an Avro value of writer schema id ${id} (ends at byte ${offset} of ${buf.length})`,
          };
        } catch (err) {
          return { ...raw(buf), error: `writer schema id ${id}: ${(err as Error).message}` };
        }
      }
      return { ...raw(buf), error: type.message };
    }
    return raw(buf);
  }

  private async typeOf(id: number): Promise<Type | Error> {
    let t = this.types.get(id);
    if (t === undefined) {
      try {
        t = parseSchema(await this.registry.getById(id), `(writer schema id ${id})`);
      } catch (err) {
        t = err instanceof Error ? err : new Error(String(err));
      }
      this.types.set(id, t);
    }
    return t;
  }
}

function raw(buf: Buffer): DecodedPart {
  const text = buf.toString('utf8');
  // printable UTF-8 (round-trips, no control characters but tab/newline): show as text
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
  if (Buffer.from(text, 'utf8').equals(buf) && !/[\u0000-\u0008\u000e-\u001f]/.test(text))
    return { value: text, as: 'text' };
  return { value: `base64:${buf.toString('base64')}`, as: 'bytes' };
}

/** Headers as name → UTF-8 text. */
export function headerText(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = v.toString('utf8');
  return out;
}

/** A record for display: coordinates, ISO timestamp, decoded key and value, headers as text. */
export interface ShownRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: string;
  readonly key: unknown;
  readonly value: unknown;
  readonly headers: Record<string, string>;
}

/** Decodes a record for display. Timestamps outside the Date range are shown as the number of ms. */
export async function showRecord(d: WriterDecoder, r: LogRecord): Promise<ShownRecord> {
  const key = await d.decode(r.key);
  const value = await d.decode(r.value);
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: isoTime(r.timestamp),
    key: key.value,
    value: value.value,
    headers: headerText(r.headers),
  };
}

/** ms since epoch as ISO-8601 UTC, or the number when it is outside the Date range. */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
