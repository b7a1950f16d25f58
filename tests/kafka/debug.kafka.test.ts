/**
 * `eddy run --dry-run` and `eddy trace` on a real Kafka broker and Apicurio registry (the Kafka counterparts of
 * tests/debug/dry-run.test.ts and tests/debug/trace.test.ts), through the built CLI in a namespace of its own.
 * flight-delays runs on 10,000 flights, then 2,000 more are loaded and 3 invalid ones produced with `eddy produce`, all
 * left unprocessed.
 * - The dry run writes nothing: the broker's topics and their offsets, the consumer groups and their committed
 *   offsets, the registry's subjects and versions (of this namespace and `eddy.meta.*`), and the state files are the
 *   same before and after (seen through a kafkajs admin client and the registry's HTTP API, not through eddy); also
 *   for version 2, which never ran, where a real run would create topics and register subjects. What it prints equals a count made from the parquet rows and
 *   what the real run then writes.
 * - A trace of a route (route_stats, behind a repartition), of an airport-hour (a window store) and of an output
 *   record names exactly the flights an independent computation from the parquet rows finds, with the running value.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import type { TraceStep } from '../../src/debug/trace.js';
import { type Expected, expectedResults, type Stats } from '../helpers/flights.js';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';
import { avroDecoder, everythingWritable, type FlightRow, flightRows, sliceEffects } from './debug-helpers.js';
import { type FlightNamespace, flightNamespace, kafkaEnv } from './helpers.js';

const FIRST = 10_000;
const MORE = 2_000;
const TOTAL = FIRST + MORE;
/** Flights `eddy produce` appends after the parquet rows, each one a dead letter (delay out of range, unknown airport). */
const BAD: FlightRow[] = [
  { date: Date.parse('2001-01-01T19:10:00Z'), delay: 5_000, origin: 'LAX', destination: 'PHX' },
  { date: Date.parse('2001-01-01T19:20:00Z'), delay: -500, origin: 'SFO', destination: 'LAX' },
  { date: Date.parse('2001-01-01T19:30:00Z'), delay: 10, origin: 'ZZZ', destination: 'LAX' },
];

describe('dry run and trace (Kafka)', () => {
  let ns: FlightNamespace;
  let name: string;
  let output: string;
  let expected: Expected;
  /** Every flight on the log by `partition:offset`, decoded independently of eddy. */
  const flights = new Map<string, FlightRow>();

  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: ns.dir,
      env: cleanEnv(ns.env),
      encoding: 'utf8',
      timeout: 180_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const writable = () =>
    everythingWritable({
      brokers: kafkaEnv().brokers,
      registryUrl: kafkaEnv().registryUrl,
      stateDir: join(ns.dir, '.eddy', 'state'),
      prefixes: [`${ns.ns}-`, 'eddy.meta.'],
    });
  const endOffsets = async (topic: string) => new Map((await ns.log.offsets(topic)).map((o) => [o.partition, o.high]));
  /** Records (read_committed; transaction markers take offsets too) appended at or after `ends`. */
  const recordsSince = async (topic: string, ends: Map<number, number>) => {
    let n = 0;
    for (const o of await ns.log.offsets(topic))
      for await (const b of ns.log.read({ topic, partition: o.partition }, { fromOffset: ends.get(o.partition) ?? 0 }))
        n += b.length;
    return n;
  };
  const trace = (args: string[]): TraceStep[] => {
    const r = cli(['trace', name, ...args, '--format', 'jsonl']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as TraceStep);
  };

  beforeAll(async () => {
    ns = await flightNamespace({ limit: FIRST, maxBatchRecords: 2_000 });
    name = ns.topology.name;
    output = [...ns.topology.topics.values()].find((i) => i.role === 'output')!.name;
    // version 2 under a name of its own, so that `eddy run <name>` runs version 1 only
    writeFileSync(
      join(ns.dir, 'v2.mjs'),
      `import { buildFlightDelays } from ${JSON.stringify(join(ROOT, 'dist', 'examples', 'flight-delays', 'topology.js'))};\n` +
        `export default () => buildFlightDelays({ namespace: ${JSON.stringify(ns.ns)}, version: 2 });\n`,
    );
    const config = JSON.parse(readFileSync(join(ns.dir, 'eddy.config.json'), 'utf8')) as {
      topologies: Record<string, string>;
    };
    config.topologies[`${ns.ns}-v2`] = './v2.mjs';
    writeFileSync(join(ns.dir, 'eddy.config.json'), JSON.stringify(config));
    const run = cli(['run', name, '--until-idle', '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
    // flights the version has not processed yet: what the dry run reads from its committed positions
    await loadFlightData({ log: ns.log, registry: ns.registry, skip: FIRST, limit: MORE, topics: ns.topics });
    const bad = BAD.map((f) => JSON.stringify({ ...f, date: new Date(f.date).toISOString(), distance: 100 }));
    const produce = spawnSync(
      process.execPath,
      [CLI, 'produce', ns.topics.flights, '--format', 'jsonl', '--key-field', 'origin', '--timestamp-field', 'date'],
      { cwd: ns.dir, env: cleanEnv(ns.env), encoding: 'utf8', input: `${bad.join('\n')}\n`, timeout: 60_000 },
    );
    expect(produce.status, produce.stderr).toBe(0);
  }, 300_000);
  afterAll(async () => {
    await ns?.cleanup();
  });

  /** A number the dry run printed: the first group of `re`. */
  const printed = (out: string, re: RegExp): number => {
    const m = re.exec(out);
    expect(m, `${re} in:\n${out}`).not.toBeNull();
    return Number(m![1]);
  };
  const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('eddy run --dry-run writes nothing to the broker, the registry or the state directory', async () => {
    const before = await writable();
    expect(Object.keys(before).some((k) => k.startsWith('file ') && k.endsWith('route_stats.sqlite'))).toBe(true);
    expect(before[`group ${ns.topology.groupId}`]).toContain(`${ns.topics.flights}:0=`);
    expect(before.topics).toContain(`${ns.topology.name}.v1.route_stats.repartition`);
    expect(before.subjects).toContain(`${ns.topics.flights}-value`);
    const d = cli(['run', name, '--dry-run', '--limit', '500']);
    expect(d.code, d.stderr).toBe(0);
    expect(printed(d.stdout, /^input: (\d+) records$/m)).toBe(500);
    expect(printed(d.stdout, /^ {2}route_stats: (\d+) keys changed/m)).toBeGreaterThan(0);
    // version 2 never ran: a real run would create its topics, its groups and register its subjects
    const d2 = cli(['run', `${ns.ns}-v2`, '--dry-run', '--version', '2', '--limit', '300']);
    expect(d2.code, d2.stderr).toBe(0);
    expect(printed(d2.stdout, /^input: (\d+) records$/m)).toBe(300);
    expect(d2.stdout).toMatch(
      new RegExp(`^schemas a real run would register: .*${regexEscape(output.replace('.v1', '.v2'))}-value`, 'm'),
    );
    expect(await writable()).toEqual(before);
  }, 120_000);

  it('prints what an independent count of the rows finds, and what the real run then writes', async () => {
    const before = await writable();
    const d = cli(['run', name, '--dry-run', '--limit', '1000000']);
    expect(d.code, d.stderr).toBe(0);
    expect(await writable()).toEqual(before);
    const effects = sliceEffects([...(await flightRows(FIRST, MORE)), ...BAD]);
    expect(printed(d.stdout, /^input: (\d+) records$/m)).toBe(MORE + BAD.length);
    const deadLetters = printed(
      d.stdout,
      new RegExp(`^ {2}${regexEscape(ns.topology.deadLetterTopic)}: (\\d+) dead letters`, 'm'),
    );
    expect(deadLetters).toBe(effects.deadLetters);
    expect(deadLetters).toBeGreaterThan(0);
    expect(printed(d.stdout, /^ {2}route_stats: (\d+) keys changed/m)).toBe(effects.routes.size);
    expect(d.stdout).not.toMatch(/late records/);
    expect(printed(d.stdout, /^ {2}delays_by_airport_hour: (\d+) keys changed/m)).toBe(effects.hours.size);
    const outputs = printed(d.stdout, new RegExp(`^ {2}${regexEscape(output)}: (\\d+) records`, 'm'));
    expect(outputs).toBeGreaterThan(0);
    // the real run over the same records writes what the dry run printed
    const ends = { out: await endOffsets(output), dlq: await endOffsets(ns.topology.deadLetterTopic) };
    const run = cli(['run', name, '--until-idle', '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
    expect(await recordsSince(output, ends.out)).toBe(outputs);
    expect(await recordsSince(ns.topology.deadLetterTopic, ends.dlq)).toBe(deadLetters);
  }, 180_000);

  describe('eddy trace', () => {
    beforeAll(async () => {
      // everything processed, whatever ran before
      const run = cli(['run', name, '--until-idle', '--no-progress']);
      expect(run.code, run.stderr).toBe(0);
      expected = await expectedResults(TOTAL);
      const decode = avroDecoder(kafkaEnv().registryUrl);
      for (const o of await ns.log.offsets(ns.topics.flights))
        for await (const b of ns.log.read({ topic: ns.topics.flights, partition: o.partition }))
          for (const r of b) flights.set(`${o.partition}:${r.offset}`, (await decode(r.value!)) as FlightRow);
      expect(flights.size).toBe(TOTAL + BAD.length);
    }, 120_000);

    /** The flights at the offsets the steps name. */
    const flightsAt = (steps: TraceStep[]) =>
      steps.map((s) => {
        expect(s.topic).toBe(ns.topics.flights);
        const f = flights.get(`${s.partition}:${s.offset}`);
        expect(f, `a flight at ${s.partition}:${s.offset}`).toBeDefined();
        return f!;
      });

    /** Each step's value is the statistics of the flights up to it; the last one equals `final`. */
    const checkCumulative = (steps: TraceStep[], final: Stats) => {
      const delays = flightsAt(steps).map((f) => f.delay);
      let total = 0;
      steps.forEach((s, i) => {
        total += delays[i];
        expect(s.value).toMatchObject({ flights: i + 1, total_delay: total });
      });
      expect(steps[steps.length - 1].value).toMatchObject({
        flights: final.flights,
        delayed: final.delayed,
        total_delay: final.total_delay,
        max_delay: final.max_delay,
      });
    };
    const busiest = (m: Map<string, Stats>) =>
      [...m].sort((a, b) => b[1].flights - a[1].flights || a[0].localeCompare(b[0]))[0];

    it('traces a route through the repartition to the flights that made it', () => {
      const [route, stats] = busiest(expected.routes);
      const steps = trace(['--store', 'route_stats', '--key', route]);
      expect(steps.length).toBe(stats.flights);
      expect(steps.every((s) => s.status === 'applied')).toBe(true);
      const made = flightsAt(steps);
      expect(made.every((f) => `${f.origin}-${f.destination}` === route)).toBe(true);
      expect(made.map((f) => f.date)).toEqual(steps.map((s) => s.timestamp));
      expect(new Set(steps.map((s) => `${s.partition}:${s.offset}`)).size).toBe(steps.length);
      checkCumulative(steps, stats);
    }, 60_000);

    it('traces an airport-hour of the window store to its flights', () => {
      const [key, stats] = busiest(expected.hourly);
      const [airport, start] = [key.split('|')[0], Number(key.split('|')[1])];
      const steps = trace([
        '--store',
        'delays_by_airport_hour',
        '--key',
        airport,
        '--window',
        new Date(start + 1_234).toISOString(),
      ]);
      expect(steps.length).toBe(stats.flights);
      expect(steps.every((s) => s.status === 'applied')).toBe(true);
      expect(flightsAt(steps).every((f) => f.origin === airport && f.date >= start && f.date < start + 3_600_000)).toBe(
        true,
      );
      checkCumulative(steps, stats);
    }, 60_000);

    it('traces an output record (--output O --offset P:O) to the flights of its window', async () => {
      const decode = avroDecoder(kafkaEnv().registryUrl);
      const parts = await ns.log.offsets(output);
      const p = parts.find((x) => x.high > 20)!;
      type HourlyValue = { airport: string; window_start: number } & Stats;
      let picked: { offset: number; value: HourlyValue } | undefined;
      for await (const b of ns.log.read({ topic: output, partition: p.partition }))
        for (const r of b)
          if (picked === undefined && r.offset >= 10)
            picked = { offset: r.offset, value: (await decode(r.value!)) as HourlyValue };
      const { airport, window_start: start } = picked!.value;
      const stats = expected.hourly.get(`${airport}|${start}`)!;
      expect(picked!.value).toMatchObject({ flights: stats.flights, total_delay: stats.total_delay });
      const steps = trace(['--output', output, '--offset', `${p.partition}:${picked!.offset}`]);
      const applied = steps.filter((s) => s.status === 'applied');
      expect(applied.length).toBe(stats.flights);
      expect(
        flightsAt(applied).every((f) => f.origin === airport && f.date >= start && f.date < start + 3_600_000),
      ).toBe(true);
      checkCumulative(applied, stats);
    }, 60_000);
  });
});
