/**
 * An independent computation of the flight-delays results straight from the parquet and CSV files, sharing no
 * code with eddy's pipeline (no log, no topology, no stores): what the pipeline must equal.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { defaultFiles } from '../../examples/flight-delays/load.js';

export interface Stats {
  flights: number;
  delayed: number;
  total_delay: number;
  max_delay: number;
  avg_delay: number;
}

export interface Expected {
  /** `${airport}|${windowStartMs}` -> stats */
  hourly: Map<string, Stats>;
  /** `${origin}-${destination}` -> stats */
  routes: Map<string, Stats>;
  /** flights rejected by the delay rule, and by the unknown-airport rule */
  badDelay: number;
  unknownAirport: number;
}

export async function expectedResults(limit: number): Promise<Expected> {
  const files = defaultFiles();
  const airports = new Set(
    (parse(readFileSync(files.airports), { columns: true }) as { iata: string }[]).map((a) => a.iata),
  );
  const file = await asyncBufferFromFile(files.flights);
  let rows: unknown[][] = [];
  await parquetRead({
    file,
    compressors,
    rowEnd: limit,
    onComplete: (r) => {
      rows = r as unknown[][];
    },
  });
  const hourly = new Map<string, Stats>();
  const routes = new Map<string, Stats>();
  let badDelay = 0;
  let unknownAirport = 0;
  const add = (m: Map<string, Stats>, k: string, d: number) => {
    const s = m.get(k) ?? { flights: 0, delayed: 0, total_delay: 0, max_delay: Number.NEGATIVE_INFINITY, avg_delay: 0 };
    s.flights++;
    if (d > 15) s.delayed++;
    s.total_delay += d;
    s.max_delay = Math.max(s.max_delay, d);
    m.set(k, s);
  };
  for (const [date, delay, , origin, destination] of rows as [Date, bigint, bigint, string, string][]) {
    const d = Number(delay);
    if (d < -120 || d > 1800) {
      badDelay++;
      continue;
    }
    if (!airports.has(origin) || !airports.has(destination)) {
      unknownAirport++;
      continue;
    }
    const t = date.getTime();
    add(hourly, `${origin}|${t - (t % 3_600_000)}`, d);
    add(routes, `${origin}-${destination}`, d);
  }
  for (const m of [hourly, routes]) for (const s of m.values()) s.avg_delay = s.total_delay / s.flights;
  return { hourly, routes, badDelay, unknownAirport };
}
