/**
 * Loads the vega-datasets flight data onto the log: `flights-3m.parquet` into topic `flights` (key: origin) and
 * `airports.csv` into compacted topic `airports` (key: iata). Parquet is streamed one row group at a time
 * (~270,000 rows), so memory stays bounded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { ConfigError } from '../../src/errors.js';
import type { Airport } from '../../src/generated/schemas.js';
import type { Flight } from '../../src/generated/schemas-v2.js';
import type { Log, ProducerRecord } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { loadSchemas } from '../../src/schema/load.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import { topicConfigFor } from '../../src/topology/topic-config.js';
import { packageRoot } from '../../src/util/paths.js';

/** Where the vega-datasets package keeps its data files. */
export function vegaDataDir(): string {
  // vega-datasets' `exports` hides package.json; find the package folder on the module search path instead.
  const paths = createRequire(import.meta.url).resolve.paths('vega-datasets') ?? [];
  for (const p of paths) if (existsSync(join(p, 'vega-datasets', 'data'))) return join(p, 'vega-datasets', 'data');
  throw new ConfigError('package vega-datasets is not installed; run `npm install`');
}

/** Default input files. */
export function defaultFiles(): { flights: string; airports: string } {
  const dir = vegaDataDir();
  return { flights: join(dir, 'flights-3m.parquet'), airports: join(dir, 'airports.csv') };
}

export interface LoadOptions {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly flightsFile?: string;
  readonly airportsFile?: string;
  /** Load only the first N flights (default: all 3,000,000), after `skip`. */
  readonly limit?: number;
  /** Skip the first N rows of the flights file (default 0), e.g. to produce new records after a first load. */
  readonly skip?: number;
  /**
   * Version of the Flight schema to produce with (default 1, `schemas/Flight.avsc`). Version 2
   * (`schemas/v2/Flight.avsc`) adds `source_row` (the row in the parquet file); loading with it registers that schema
   * under `<flights>-value` (as a producer does; it is BACKWARD-compatible: the new field has a default).
   */
  readonly flightSchemaVersion?: 1 | 2;
  /** Partitions of topic `flights` (default 4). */
  readonly partitions?: number;
  /** Topic names (default `flights` and `airports`; see `flightTopics(namespace)`). */
  readonly topics?: { flights: string; airports: string };
  /** Records per append (default 10,000). */
  readonly batchRecords?: number;
  /** Progress callback: flights loaded so far and the total to load. */
  readonly onProgress?: (loaded: number, total: number) => void;
}

function mustExist(path: string, what: string): void {
  if (!existsSync(path))
    throw new ConfigError(
      `${what} file not found: ${path}. Run \`npm install\` (it ships with vega-datasets) or pass the path.`,
      { path },
    );
}

/** Reads airports.csv into records; empty or "NA" fields become null. Throws ConfigError on a bad row. */
export function readAirports(path: string): Airport[] {
  mustExist(path, 'airports');
  const rows = parse(readFileSync(path), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const opt = (v: string | undefined) => (v === undefined || v === '' || v === 'NA' ? null : v);
  return rows.map((r, i) => {
    const latitude = Number(r.latitude);
    const longitude = Number(r.longitude);
    if (!r.iata || Number.isNaN(latitude) || Number.isNaN(longitude))
      throw new ConfigError(`${path}: row ${i + 2} has no iata code or a non-numeric latitude/longitude`, {
        path,
        row: i + 2,
      });
    return {
      iata: r.iata,
      name: r.name ?? '',
      city: opt(r.city),
      state: opt(r.state),
      country: opt(r.country),
      latitude,
      longitude,
    };
  });
}

/**
 * Creates `flights` and `airports` (if missing) and appends the data. Returns the record counts. Appends are not
 * idempotent: loading twice appends twice (as producing twice to Kafka would).
 */
export async function loadFlightData(opts: LoadOptions): Promise<{ flights: number; airports: number }> {
  const files = defaultFiles();
  const flightsFile = opts.flightsFile ?? files.flights;
  const airportsFile = opts.airportsFile ?? files.airports;
  mustExist(flightsFile, 'flights');
  const airports = readAirports(airportsFile);
  const schemaDir = join(packageRoot(import.meta.url), 'schemas');
  const schemas = loadSchemas(schemaDir);
  const v2 = opts.flightSchemaVersion === 2;
  const flightSchema = v2 ? loadSchemas(join(schemaDir, 'v2')).get('Flight')! : schemas.get('Flight')!;
  const skip = opts.skip ?? 0;
  const partitions = opts.partitions ?? 4;
  const { log, registry } = opts;
  const { flights: FLIGHTS, airports: AIRPORTS } = opts.topics ?? { flights: 'flights', airports: 'airports' };
  const keySerde = await AvroSerde.create<string>(registry, `${FLIGHTS}-key`, 'string');
  const flightSerde = await AvroSerde.create<Flight>(registry, `${FLIGHTS}-value`, flightSchema);
  const airportKey = await AvroSerde.create<string>(registry, `${AIRPORTS}-key`, 'string');
  const airportSerde = await AvroSerde.create<Airport>(registry, `${AIRPORTS}-value`, schemas.get('Airport')!);
  await log.createTopics([
    { name: FLIGHTS, partitions, config: topicConfigFor('source') },
    { name: AIRPORTS, partitions: 1, compacted: true, config: topicConfigFor('global') },
  ]);
  const actual = (await log.describeTopic(FLIGHTS))!.partitions;

  const producer = log.producer();
  try {
    await producer.send(
      airports.map((a) => ({
        topic: AIRPORTS,
        partition: 0,
        key: airportKey.serialize(a.iata),
        value: airportSerde.serialize(a),
        timestamp: 0,
      })),
    );

    const file = await asyncBufferFromFile(flightsFile);
    const meta = await parquetMetadataAsync(file);
    const total = Math.min(Math.max(0, Number(meta.num_rows) - skip), opts.limit ?? Number.POSITIVE_INFINITY);
    const batchRecords = opts.batchRecords ?? 10_000;
    const keyCache = new Map<string, { bytes: Buffer; partition: number }>();
    let loaded = 0;
    let rowStart = 0;
    for (const rg of meta.row_groups) {
      const rowEnd = rowStart + Number(rg.num_rows);
      if (loaded >= total) break;
      if (rowEnd <= skip) {
        rowStart = rowEnd;
        continue;
      }
      const first = Math.max(rowStart, skip);
      let rows: unknown[][] = [];
      await parquetRead({
        file,
        metadata: meta,
        compressors,
        rowStart: first,
        rowEnd: Math.min(rowEnd, first + (total - loaded)),
        onComplete: (r) => {
          rows = r as unknown[][];
        },
      });
      rowStart = rowEnd;
      let rowNumber = first;
      let out: ProducerRecord[] = [];
      for (const row of rows) {
        const [date, delay, distance, origin, destination] = row as [Date, bigint, bigint, string, string];
        const f = {
          date: date.getTime(),
          delay: Number(delay),
          distance: Number(distance),
          origin,
          destination,
        } as Flight;
        if (v2) f.source_row = rowNumber;
        rowNumber++;
        let k = keyCache.get(origin);
        if (k === undefined) {
          const bytes = keySerde.serialize(origin);
          k = { bytes, partition: partitionFor(bytes, actual) };
          keyCache.set(origin, k);
        }
        out.push({
          topic: FLIGHTS,
          partition: k.partition,
          key: k.bytes,
          value: flightSerde.serialize(f),
          timestamp: f.date,
        });
        if (out.length >= batchRecords) {
          await producer.send(out);
          loaded += out.length;
          out = [];
          opts.onProgress?.(loaded, total);
        }
      }
      if (out.length > 0) {
        await producer.send(out);
        loaded += out.length;
        opts.onProgress?.(loaded, total);
      }
    }
    return { flights: loaded, airports: airports.length };
  } finally {
    await producer.close();
  }
}
