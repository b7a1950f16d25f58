/**
 * `eddy trace` (issue 8, item 5): one route (route_stats, behind a repartition) and one airport-hour
 * (delays_by_airport_hour, a window store) of flight-delays on 30,000 flights, traced back to their input records and
 * checked against an independent computation from the parquet rows: the contributing flights (read back from the
 * offsets the trace names), the value after each, and the final value. Also an output record traced through its
 * provenance headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { traceOutput, traceStore } from '../../src/debug/trace.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { TopologySerdes } from '../../src/runtime/serdes.js';
import { tempBackend } from '../helpers/backend.js';
import { type Expected, expectedResults, type Stats } from '../helpers/flights.js';

const LIMIT = 30_000;

describe('trace', () => {
  const env = tempBackend('eddy-trace-');
  const t = buildFlightDelays();
  let expected: Expected;
  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
    await new TopologyRunner(t, {
      log: env.log,
      registry: env.registry,
      stateDir: env.stateDir,
      untilIdle: true,
    }).run();
    expected = await expectedResults(LIMIT);
  }, 300_000);
  afterAll(async () => env.destroy());

  /** The flights at the offsets a trace names, decoded. */
  async function flightsAt(steps: { topic: string; partition: number; offset: number }[]) {
    const serdes = await TopologySerdes.create(t, env.registry);
    const out = [];
    for (const s of steps)
      for await (const b of env.log.read(
        { topic: s.topic, partition: s.partition },
        { fromOffset: s.offset, toOffset: s.offset + 1 },
      ))
        for (const r of b)
          out.push(
            serdes.topic('flights').value.deserialize(r.value!) as {
              origin: string;
              destination: string;
              delay: number;
              date: number;
            },
          );
    return out;
  }

  function checkCumulative(values: unknown[], delays: number[], final: Stats): void {
    let total = 0;
    values.forEach((v, i) => {
      total += delays[i];
      expect(v).toMatchObject({ flights: i + 1, total_delay: total });
    });
    expect(values[values.length - 1]).toMatchObject({
      flights: final.flights,
      delayed: final.delayed,
      total_delay: final.total_delay,
      max_delay: final.max_delay,
    });
  }

  it('traces a route through the repartition to the flights that made it', async () => {
    // the busiest route, so that its flights are many and interleave with others
    const [route, stats] = [...expected.routes].sort(
      (a, b) => b[1].flights - a[1].flights || a[0].localeCompare(b[0]),
    )[0];
    const res = await traceStore({
      log: env.log,
      registry: env.registry,
      topology: t,
      store: 'route_stats',
      key: route,
    });
    expect(res.steps.length).toBe(stats.flights);
    expect(res.steps.every((s) => s.status === 'applied' && s.topic === 'flights')).toBe(true);
    const flights = await flightsAt(res.steps);
    expect(flights.every((f) => `${f.origin}-${f.destination}` === route)).toBe(true);
    expect(flights.map((f) => f.date)).toEqual(res.steps.map((s) => s.timestamp));
    checkCumulative(
      res.steps.map((s) => s.value),
      flights.map((f) => f.delay),
      stats,
    );
    expect(res.value).toEqual(res.steps[res.steps.length - 1].value);
  }, 120_000);

  it('traces an airport-hour of a window store to its flights', async () => {
    const [key, stats] = [...expected.hourly].sort(
      (a, b) => b[1].flights - a[1].flights || a[0].localeCompare(b[0]),
    )[0];
    const [airport, start] = key.split('|');
    const res = await traceStore({
      log: env.log,
      registry: env.registry,
      topology: t,
      store: 'delays_by_airport_hour',
      key: airport,
      windowMs: Number(start) + 1_234,
    });
    expect(res.windowStartMs).toBe(Number(start));
    expect(res.steps.length).toBe(stats.flights);
    expect(res.replayed.map((r) => r.partition)).toEqual([res.partition]);
    const flights = await flightsAt(res.steps);
    expect(
      flights.every((f) => f.origin === airport && f.date >= Number(start) && f.date < Number(start) + 3_600_000),
    ).toBe(true);
    checkCumulative(
      res.steps.map((s) => s.value),
      flights.map((f) => f.delay),
      stats,
    );
  }, 120_000);

  it('traces an output record through its provenance headers', async () => {
    const out = 'airport-delays-hourly.v1';
    const parts = await env.log.offsets(out);
    const p = parts.find((x) => x.high > 10)!;
    const res = await traceOutput({
      log: env.log,
      registry: env.registry,
      topology: t,
      output: out,
      partition: p.partition,
      offset: 10,
    });
    const v = res.output.value as { airport: string; window_start: number; flights: number; total_delay: number };
    expect(res.windowStartMs).toBe(v.window_start);
    expect(res.key).toBe(v.airport);
    const exp = expected.hourly.get(`${v.airport}|${v.window_start}`)!;
    expect(res.steps.filter((s) => s.status === 'applied').length).toBe(exp.flights);
    expect(res.value).toMatchObject({ flights: v.flights, total_delay: v.total_delay });
    // the unversioned output name (as diff takes it) names the same topic of this version
    const bare = await traceOutput({
      log: env.log,
      registry: env.registry,
      topology: t,
      output: 'airport-delays-hourly',
      partition: p.partition,
      offset: 10,
    });
    expect(bare.value).toEqual(res.value);
    expect(bare.steps.length).toBe(res.steps.length);
  }, 120_000);
});
