/**
 * Correctness at scale, as a suite run on each log backend (embedded: flight-delays.test.ts; Kafka:
 * tests/kafka/flight-delays.kafka.test.ts): flight-delays v1 over the first N real flights equals an independent
 * computation over the parquet rows (tests/helpers/flights.ts). Also checks the dead-letter topic and the
 * final-results output topic against the stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays, flightTopics } from '../../examples/flight-delays/topology.js';
import type { Log, LogRecord } from '../../src/log/contract.js';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import { type Expected, expectedResults } from '../helpers/flights.js';

/** A log + registry to run the suite on, with a namespace for topic names (shared brokers). */
export interface SuiteEnv {
  log: Log;
  registry: SchemaRegistry;
  stateDir: string;
  namespace?: string;
  destroy(): Promise<void>;
}

async function readAll(log: Log, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const o of await log.offsets(topic))
    for await (const b of log.read({ topic, partition: o.partition })) out.push(...b);
  return out;
}

export function flightDelaysSuite(backend: string, makeEnv: () => Promise<SuiteEnv>, LIMIT: number): void {
  describe(`flight-delays v1 on the first ${LIMIT} flights (${backend})`, () => {
    let env: SuiteEnv;
    let topology: ReturnType<typeof buildFlightDelays>;
    let topics: ReturnType<typeof flightTopics>;
    let expected: Expected;
    let hourlyRows: Record<string, unknown>[];
    let routeRows: Record<string, unknown>[];

    beforeAll(async () => {
      env = await makeEnv();
      topology = buildFlightDelays({ namespace: env.namespace });
      topics = flightTopics(env.namespace);
      expected = await expectedResults(LIMIT);
      await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT, topics });
      const runner = new TopologyRunner(topology, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
      });
      await runner.run();
      hourlyRows = await readStore({
        stateDir: env.stateDir,
        topology,
        store: topology.stores.get('delays_by_airport_hour')!,
        registry: env.registry,
      });
      routeRows = await readStore({
        stateDir: env.stateDir,
        topology,
        store: topology.stores.get('route_stats')!,
        registry: env.registry,
      });
    }, 300_000);
    afterAll(() => env?.destroy());

    it('delays_by_airport_hour equals the independent computation, window by window', () => {
      const got = new Map(
        hourlyRows.map((r) => {
          const { airport, window_start, window_end, ...stats } = r;
          expect(Date.parse(String(window_end)) - Date.parse(String(window_start))).toBe(3_600_000);
          return [`${airport}|${Date.parse(String(window_start))}`, stats];
        }),
      );
      expect(got.size).toBe(expected.hourly.size);
      for (const [k, s] of expected.hourly) expect(got.get(k), k).toEqual(s);
    });

    it('route_stats equals the independent computation, route by route', () => {
      const got = new Map(routeRows.map(({ route, ...stats }) => [String(route), stats]));
      expect(got.size).toBe(expected.routes.size);
      for (const [k, s] of expected.routes) expect(got.get(k), k).toEqual(s);
    });

    it('dead-letters every invalid flight with the reason and its source offset', async () => {
      const dlq = await readAll(env.log, topology.deadLetterTopic);
      expect(dlq.length).toBe(expected.badDelay + expected.unknownAirport);
      const byProcessor = new Map<string, number>();
      for (const r of dlq) {
        const p = r.headers['eddy.dlq.processor']!.toString();
        byProcessor.set(p, (byProcessor.get(p) ?? 0) + 1);
        expect(r.headers['eddy.source.topic']!.toString()).toBe(topics.flights);
        const offset = Number(r.headers['eddy.source.offset']!.toString());
        const partition = Number(r.headers['eddy.source.partition']!.toString());
        // the dead letter carries the original bytes of the record at that offset
        const [orig] = (await (async () => {
          for await (const b of env.log.read(
            { topic: topics.flights, partition },
            { fromOffset: offset, toOffset: offset + 1 },
          ))
            return b;
          return [];
        })()) as LogRecord[];
        expect(orig.value!.equals(r.value!)).toBe(true);
      }
      expect(byProcessor.get('validate') ?? 0).toBe(expected.badDelay);
      expect((byProcessor.get('enrich-origin') ?? 0) + (byProcessor.get('enrich-destination') ?? 0)).toBe(
        expected.unknownAirport,
      );
      const reasons = dlq
        .filter((r) => r.headers['eddy.dlq.processor']!.toString() === 'validate')
        .map((r) => r.headers['eddy.dlq.reason']!.toString());
      for (const reason of reasons) expect(reason).toMatch(/^delay -?\d+ min outside \[-120, 1800\]$/);
    });

    it('airport-delays-hourly.v1 holds each closed window once, equal to its store row, traceable to an input offset', async () => {
      const outTopic = [...topology.topics.values()].find((x) => x.role === 'output')!.name;
      const out = await readAll(env.log, outTopic);
      const serde = await AvroSerde.create<Record<string, number | string>>(
        env.registry,
        `${outTopic}-value`,
        topology.topics.get(outTopic)!.valueSchema!,
      );
      const seen = new Set<string>();
      for (const r of out) {
        await serde.prepare([AvroSerde.schemaIdOf(r.value!)]);
        const v = serde.deserialize(r.value!);
        const k = `${v.airport}|${v.window_start}`;
        expect(seen.has(k), `window ${k} emitted twice`).toBe(false);
        seen.add(k);
        const { airport, window_start, window_end, ...stats } = v;
        expect(stats).toEqual(expected.hourly.get(k));
        expect(r.headers['eddy.source.topic']!.toString()).toBe(topics.flights);
        expect(r.headers['eddy.topology']!.toString()).toBe(topology.groupId);
      }
      // every window except those still open at the end of the input (within window + grace of stream time) is emitted
      expect(out.length).toBeGreaterThan(expected.hourly.size * 0.9);
      expect(out.length).toBeLessThan(expected.hourly.size);
    });
  });
}
