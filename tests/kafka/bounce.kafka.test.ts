/**
 * Broker bounces (issue 9, item 5): two `eddy worker` processes run flight-delays (exactly-once) on a broker of this
 * file's own while that broker is restarted three times mid-stream. The workers must ride every bounce out (never
 * exit: they back off, recreate their runner and carry on) and the run must end identical to an uninterrupted one:
 * the same decoded records in every partition of the output and dead-letter topics, in the same order, the same
 * store rows, and as many flights counted in `route_stats` as an independent computation from the parquet file
 * finds valid.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { expectedResults } from '../helpers/flights.js';
import { eddy, type Proc, ROOT } from '../helpers/proc.js';
import {
  committedSum,
  type Decoded,
  decodedSnapshot,
  eventually,
  type FlightNamespace,
  flightNamespace,
  kafkaEnv,
} from './helpers.js';
import { keepForever } from './keep-forever.js';

const N = 20_000;
const BATCH = 200;
/** This file's broker (19795-19799 are this suite's spare ports; the controller takes the next one). */
const PORT = 19795;
const BROKER_ENV = { KAFKA_PORT: String(PORT), KAFKA_CONTROLLER_PORT: String(PORT + 1) };

/**
 * Runs `scripts/kafka-local <cmd>` without blocking the event loop (the workers' output pipes keep draining while
 * the broker is down). Rejects on a non-zero exit.
 */
function kafkaLocal(cmd: 'start' | 'restart' | 'stop', env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'scripts', 'kafka-local'), [cmd], {
      env: { ...process.env, ...BROKER_ENV, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`kafka-local ${cmd} exited ${code}: ${err}`)),
    );
  });
}

function worker(f: FlightNamespace, dataDir: string): Proc {
  return eddy(['--data-dir', dataDir, 'worker', f.topology.name], f.env, { cwd: f.dir });
}

/** Sum of the `flights` counters of the `route_stats` rows: every valid flight is counted once. */
function routeFlights(d: Decoded): number {
  return (d.stores.route_stats ?? []).reduce((a, r) => a + Number(r.flights), 0);
}

describe('a broker restarted three times mid-stream', () => {
  let reference: Decoded;
  const namespaces: FlightNamespace[] = [];
  const procs: Proc[] = [];
  let brokerStarted = false;

  beforeAll(async () => {
    kafkaEnv();
    const ref = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(ref);
    await keepForever(ref, kafkaEnv().brokers);
    const stateDir = join(ref.dir, 'state');
    await new TopologyRunner(ref.topology, {
      log: ref.log,
      registry: ref.registry,
      stateDir,
      untilIdle: true,
      maxBatchRecords: BATCH,
    }).run();
    reference = await decodedSnapshot(ref.log, ref.registry, stateDir, ref.topology);
    const expected = await expectedResults(N);
    expect(routeFlights(reference)).toBe(N - expected.badDelay - expected.unknownAirport);
    expect(reference.outputs.flat().length).toBeGreaterThan(1000);
    await kafkaLocal('start');
    brokerStarted = true;
  }, 600_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exit));
    for (const f of namespaces) await f.cleanup().catch(() => undefined);
    if (brokerStarted) await kafkaLocal('stop');
  }, 180_000);

  it('two workers stay up through three restarts; identical to the uninterrupted run', async () => {
    const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH, brokers: [`127.0.0.1:${PORT}`] });
    namespaces.push(f);
    await keepForever(f, [`127.0.0.1:${PORT}`]);
    const a = worker(f, join(f.dir, 'a'));
    const b = worker(f, join(f.dir, 'b'));
    procs.push(a, b);
    const startedMs = Date.now();
    const bounces: { committedBefore: number; restartMs: number }[] = [];
    for (const frac of [0.15, 0.4, 0.65]) {
      let seen = 0;
      await eventually(
        `${frac * N} flights committed`,
        async () => {
          seen = await committedSum(f.log, f.topology.groupId, f.topics.flights);
          return seen >= frac * N;
        },
        300_000,
        100,
      );
      const t0 = Date.now();
      await kafkaLocal('restart', { KEEP_DATA: '1' });
      bounces.push({ committedBefore: seen, restartMs: Date.now() - t0 });
    }
    // every bounce happened mid-stream
    expect(bounces[2].committedBefore).toBeLessThan(N);

    // b leaves cleanly; a takes every task over and catches up: its state directory then holds every store
    expect(a.child.exitCode, a.stderr()).toBeNull();
    expect(b.child.exitCode, b.stderr()).toBeNull();
    b.child.kill('SIGTERM');
    expect((await b.exit).code, b.stderr()).toBe(0);
    const stateDir = join(f.dir, 'a', 'state');
    let last: Decoded | undefined;
    try {
      await eventually(
        'the run to equal the reference',
        async () => {
          last = await decodedSnapshot(f.log, f.registry, stateDir, f.topology);
          return JSON.stringify(last) === JSON.stringify(reference);
        },
        300_000,
        1_000,
      );
    } catch (err) {
      expect(last).toEqual(reference);
      throw err;
    }
    // a never exited: it rode out every bounce
    expect(a.child.exitCode, a.stderr()).toBeNull();
    // a bounce is ridden out by kafkajs' retries or by a runner restart (a `reconnect` line); either is fine
    const reconnects = (p: Proc) => p.lines.filter((l) => l.event === 'reconnect').length;
    a.child.kill('SIGTERM');
    expect((await a.exit).code, a.stderr()).toBe(0);
    expect(a.lines.some((l) => l.event === 'error')).toBe(false);
    console.log(
      `bounce: ${JSON.stringify(bounces)}; reconnects a=${reconnects(a)} b=${reconnects(b)}; total ${Date.now() - startedMs} ms; ` +
        `route_stats flights ${routeFlights(last!)}, outputs ${last!.outputs.flat().length}`,
    );
  }, 1_200_000);
});
