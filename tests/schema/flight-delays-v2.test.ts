/**
 * flight-delays version 2 beside version 1 on the embedded log: 3,000 flights produced with the Flight schema v1,
 * then 2,000 more with Flight v2 (the new field `source_row`). Both versions read both kinds of records (v2 reads the
 * old ones with the default); `route_stats` of each version equals an independent computation over the parquet rows
 * (v1: delayed = delay > 15; v2: delay >= 15, plus delayed_60 and its share); the routes whose `delayed` differs are
 * exactly those with a flight delayed exactly 15 minutes; and running either version registers nothing under
 * `flights-value` (only the producer did).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultFiles, loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays, flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { tempBackend } from '../helpers/backend.js';

const OLD = 3_000;
const NEW = 2_000;

interface Route {
  flights: number;
  over15: number;
  atLeast15: number;
  atLeast60: number;
  exactly15: number;
}

/** Per route, from the parquet rows and airports.csv directly (no eddy code). */
async function independent(rows: number): Promise<Map<string, Route>> {
  const files = defaultFiles();
  const airports = new Set(
    (parse(readFileSync(files.airports), { columns: true }) as { iata: string }[]).map((a) => a.iata),
  );
  let data: unknown[][] = [];
  await parquetRead({
    file: await asyncBufferFromFile(files.flights),
    compressors,
    rowEnd: rows,
    onComplete: (r) => {
      data = r as unknown[][];
    },
  });
  const out = new Map<string, Route>();
  for (const [, delay, , origin, destination] of data as [Date, bigint, bigint, string, string][]) {
    const d = Number(delay);
    if (d < -120 || d > 1800 || !airports.has(origin) || !airports.has(destination)) continue;
    const k = `${origin}-${destination}`;
    const r = out.get(k) ?? { flights: 0, over15: 0, atLeast15: 0, atLeast60: 0, exactly15: 0 };
    r.flights++;
    if (d > 15) r.over15++;
    if (d >= 15) r.atLeast15++;
    if (d >= 60) r.atLeast60++;
    if (d === 15) r.exactly15++;
    out.set(k, r);
  }
  return out;
}

describe('flight-delays v2 beside v1, with old and new Flight records', () => {
  const env = tempBackend('eddy-fd-v2-');
  let expected: Map<string, Route>;
  let v1Rows: Record<string, unknown>[];
  let v2Rows: Record<string, unknown>[];
  let inputVersions: { beforeRuns: number[]; afterRuns: number[] };

  beforeAll(async () => {
    expected = await independent(OLD + NEW);
    await loadFlightData({ log: env.log, registry: env.registry, limit: OLD });
    await loadFlightData({ log: env.log, registry: env.registry, skip: OLD, limit: NEW, flightSchemaVersion: 2 });
    const beforeRuns = await env.registry.listVersions('flights-value');
    const [v1, v2] = flightDelaysVersions();
    for (const t of [v1, v2]) {
      await new TopologyRunner(t, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
      }).run();
    }
    inputVersions = { beforeRuns, afterRuns: await env.registry.listVersions('flights-value') };
    const read = (t: typeof v1) =>
      readStore({ stateDir: env.stateDir, topology: t, store: t.stores.get('route_stats')!, registry: env.registry });
    v1Rows = await read(v1);
    v2Rows = await read(v2);
  }, 240_000);
  afterAll(() => env.destroy());

  it('the producer registered Flight v2 under flights-value; the runs registered nothing there', () => {
    expect(inputVersions.beforeRuns).toEqual([1, 2]);
    expect(inputVersions.afterRuns).toEqual([1, 2]);
  });

  it('v1 counts delay > 15, v2 counts delay >= 15 and 60+ minutes, over old and new records', () => {
    const v1 = new Map(v1Rows.map((r) => [r.route as string, r]));
    const v2 = new Map(v2Rows.map((r) => [r.route as string, r]));
    expect([...v1.keys()].sort()).toEqual([...expected.keys()].sort());
    expect([...v2.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [route, e] of expected) {
      expect(v1.get(route), route).toMatchObject({ flights: e.flights, delayed: e.over15 });
      expect(v1.get(route), route).not.toHaveProperty('delayed_60');
      expect(v2.get(route), route).toMatchObject({ flights: e.flights, delayed: e.atLeast15, delayed_60: e.atLeast60 });
      expect(v2.get(route)?.share_delayed_60).toBeCloseTo(e.atLeast60 / e.flights, 12);
    }
    const total = [...v2.values()].reduce((a, r) => a + (r.flights as number), 0);
    expect(total).toBeGreaterThan(OLD); // the new records were read too
  });

  it('the routes whose delayed count differs are exactly those with a flight delayed exactly 15 minutes', () => {
    const v1 = new Map(v1Rows.map((r) => [r.route as string, r.delayed as number]));
    const differ = v2Rows.filter((r) => r.delayed !== v1.get(r.route as string)).map((r) => r.route as string);
    const exactly15 = [...expected].filter(([, e]) => e.exactly15 > 0).map(([k]) => k);
    expect(exactly15.length).toBeGreaterThan(0);
    expect(differ.sort()).toEqual(exactly15.sort());
  });

  it('buildFlightDelays() is still version 1, and version 2 on request', () => {
    expect(buildFlightDelays().version).toBe(1);
    expect(buildFlightDelays({ version: 2 }).version).toBe(2);
    expect(() => buildFlightDelays({ version: 3 as 2 })).toThrow('flight-delays has versions 1 and 2, not 3');
  });
});
