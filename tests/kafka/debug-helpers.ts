/**
 * Helpers of tests/kafka/debug.kafka.test.ts (dry run and trace on a real broker), independent of eddy's code on
 * purpose: the broker's view comes from a kafkajs admin client of its own, the registry's from its Confluent-compatible
 * HTTP API, Avro values are decoded with avsc from the writer schema the registry holds, and the expected results
 * come straight from the parquet and CSV files.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import avsc, { type Type } from 'avsc';
import { parse } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { Kafka, logLevel } from 'kafkajs';
import { defaultFiles } from '../../examples/flight-delays/load.js';

/**
 * Everything a write could change, as `thing -> fingerprint`: the topics and every topic's low/high offsets, every
 * committed offset (with its metadata) of the consumer groups, and the registry's subjects and every subject's
 * versions, all of them for names that start with one of `prefixes` (other tests' topics on a shared broker change on
 * their own); and the bytes of every file under `stateDir`.
 */
export async function everythingWritable(o: {
  brokers: string[];
  registryUrl: string;
  stateDir: string;
  prefixes: string[];
}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ours = (name: string) => o.prefixes.some((p) => name.startsWith(p));
  const admin = new Kafka({ brokers: o.brokers, clientId: 'debug-test-admin', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter(ours).sort();
    out.topics = topics.join(' ');
    for (const t of topics)
      out[`topic ${t}`] = (await admin.fetchTopicOffsets(t))
        .sort((a, b) => a.partition - b.partition)
        .map((p) => `${p.partition}:${p.low}-${p.high}`)
        .join(' ');
    // Groups with no committed offset are left out: the broker deletes them on its own once they are empty.
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter(ours);
    for (const g of groups.sort()) {
      const committed = (await admin.fetchOffsets({ groupId: g }))
        .flatMap((t) =>
          t.partitions
            .filter((p) => p.offset !== '-1')
            .map((p) => `${t.topic}:${p.partition}=${p.offset}/${p.metadata ?? ''}`),
        )
        .sort();
      if (committed.length > 0) out[`group ${g}`] = committed.join(' ');
    }
  } finally {
    await admin.disconnect();
  }
  // every subject: Apicurio answers 1,000 per request unless asked for more (a long test run registers more)
  const subjects = (await getJson<string[]>(`${o.registryUrl}/subjects?limit=100000`)).filter(ours).sort();
  out.subjects = subjects.join(' ');
  for (const s of subjects)
    out[`subject ${s}`] = (await getJson<number[]>(`${o.registryUrl}/subjects/${encodeURIComponent(s)}/versions`)).join(
      ',',
    );
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else out[`file ${p}`] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  if (existsSync(o.stateDir)) walk(o.stateDir);
  return out;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Decodes Confluent wire-format Avro (magic byte, 4-byte schema id, body) with avsc and the writer schema fetched by
 * id from the registry's HTTP API.
 */
export function avroDecoder(registryUrl: string): (buf: Buffer) => Promise<unknown> {
  const types = new Map<number, Type>();
  return async (buf) => {
    const id = buf.readInt32BE(1);
    let type = types.get(id);
    if (type === undefined) {
      const { schema } = await getJson<{ schema: string }>(`${registryUrl}/schemas/ids/${id}`);
      type = avsc.Type.forSchema(JSON.parse(schema) as Parameters<typeof avsc.Type.forSchema>[0]);
      types.set(id, type);
    }
    return type.fromBuffer(buf.subarray(5));
  };
}

/** A flight of the parquet file, as the loader puts it on the log (date: ms since epoch, delay in minutes). */
export interface FlightRow {
  date: number;
  delay: number;
  origin: string;
  destination: string;
}

/** Rows [skip, skip + limit) of the flights parquet file. */
export async function flightRows(skip: number, limit: number): Promise<FlightRow[]> {
  const file = await asyncBufferFromFile(defaultFiles().flights);
  let rows: unknown[][] = [];
  await parquetRead({
    file,
    compressors,
    rowStart: skip,
    rowEnd: skip + limit,
    onComplete: (r) => {
      rows = r as unknown[][];
    },
  });
  return (rows as [Date, bigint, bigint, string, string][]).map(([date, delay, , origin, destination]) => ({
    date: date.getTime(),
    delay: Number(delay),
    origin,
    destination,
  }));
}

/**
 * What flight-delays does with a slice of rows, computed from the rows alone: the flights it dead-letters (delay
 * outside [-120, 1800] min, or an airport missing from the airports CSV), and the routes and airport-hours the others
 * touch (`ORIGIN-DEST`, `ORIGIN|hourStartMs`).
 */
export function sliceEffects(rows: FlightRow[]): { deadLetters: number; routes: Set<string>; hours: Set<string> } {
  const airports = new Set(
    (parse(readFileSync(defaultFiles().airports), { columns: true }) as { iata: string }[]).map((a) => a.iata),
  );
  let deadLetters = 0;
  const routes = new Set<string>();
  const hours = new Set<string>();
  for (const f of rows) {
    if (f.delay < -120 || f.delay > 1800 || !airports.has(f.origin) || !airports.has(f.destination)) {
      deadLetters++;
      continue;
    }
    routes.add(`${f.origin}-${f.destination}`);
    hours.add(`${f.origin}|${f.date - (f.date % 3_600_000)}`);
  }
  return { deadLetters, routes, hours };
}
