/**
 * Fault tests on a real Apache Kafka broker with real `eddy worker` processes (exactly-once). Each case runs the
 * flight-delays topology in its own namespace and must end identical to an uninterrupted reference run: the same
 * decoded records in every partition of the output and dead-letter topics (read read_committed), in the same order,
 * and the same store contents: 0 lost, 0 duplicated.
 *  - SIGKILL the worker mid-stream three times, restarting it each time;
 *  - rebalance: a second worker joins mid-run, then the first is killed;
 *  - graceful shutdown: SIGTERM exits 0, and a restart restores only the changelog tail (0 records);
 *  - broker restart mid-run (on a broker of its own, so other suites keep theirs).
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { eddy, get, type Proc, ROOT } from '../helpers/proc.js';
import {
  committedSum,
  type Decoded,
  decodedSnapshot,
  eventually,
  type FlightNamespace,
  flightNamespace,
  kafkaEnv,
} from './helpers.js';

const N = 12_000;
const BATCH = 200;

function worker(f: FlightNamespace, dataDir: string, env: Record<string, string> = {}): Proc {
  return eddy(['--data-dir', dataDir, 'worker', f.topology.name], { ...f.env, ...env }, { cwd: f.dir });
}

/** Waits until the group has committed at least `n` flights, then SIGKILLs the worker. */
async function killAt(f: FlightNamespace, p: Proc, n: number): Promise<number> {
  let seen = 0;
  await eventually(
    `${n} flights committed`,
    async () => {
      seen = await committedSum(f.log, f.topology.groupId, f.topics.flights);
      return seen >= n;
    },
    180_000,
    100,
  );
  p.child.kill('SIGKILL');
  await p.exit;
  return seen;
}

async function caughtUp(f: FlightNamespace, stateDir: string, reference: Decoded): Promise<void> {
  let last: Decoded | undefined;
  try {
    await eventually(
      'the run to equal the reference',
      async () => {
        last = await decodedSnapshot(f.log, f.registry, stateDir, f.topology);
        return JSON.stringify(last) === JSON.stringify(reference);
      },
      240_000,
      1_000,
    );
  } catch (err) {
    // show the difference
    expect(last).toEqual(reference);
    throw err;
  }
}

describe('exactly-once on Kafka through faults', () => {
  let reference: Decoded;
  const namespaces: FlightNamespace[] = [];

  beforeAll(async () => {
    kafkaEnv();
    const ref = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(ref);
    const stateDir = join(ref.dir, 'state');
    await new TopologyRunner(ref.topology, {
      log: ref.log,
      registry: ref.registry,
      stateDir,
      untilIdle: true,
      maxBatchRecords: BATCH,
    }).run();
    reference = await decodedSnapshot(ref.log, ref.registry, stateDir, ref.topology);
    expect(reference.outputs.flat().length).toBeGreaterThan(1000);
    expect(reference.deadLetters.flat().length).toBe(0);
    expect(reference.stores.route_stats.length).toBeGreaterThan(500);
  }, 600_000);

  afterAll(async () => {
    for (const f of namespaces) await f.cleanup();
  });

  it('SIGKILL mid-stream 3 times, restart: identical to the uninterrupted run', async () => {
    const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(f);
    const dataDir = join(f.dir, 'w');
    const kills: number[] = [];
    for (const frac of [0.2, 0.45, 0.7]) kills.push(await killAt(f, worker(f, dataDir), Math.floor(N * frac)));
    expect(kills[2]).toBeLessThan(N);
    const last = worker(f, dataDir);
    await caughtUp(f, join(dataDir, 'state'), reference);
    last.child.kill('SIGTERM');
    expect((await last.exit).code, last.stderr()).toBe(0);
    expect(await decodedSnapshot(f.log, f.registry, join(dataDir, 'state'), f.topology)).toEqual(reference);
  }, 900_000);

  it('rebalance: a second worker joins mid-run, the first is killed; identical', async () => {
    const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(f);
    const a = worker(f, join(f.dir, 'a'));
    await eventually(
      'a third of the flights committed',
      async () => (await committedSum(f.log, f.topology.groupId, f.topics.flights)) >= N / 3,
      180_000,
      100,
    );
    const b = worker(f, join(f.dir, 'b'));
    await b.waitFor((l) => l.event === 'assigned', 120_000);
    await a.waitFor((l) => l.event === 'revoked' || l.event === 'assigned', 120_000);
    a.child.kill('SIGKILL');
    await a.exit;
    await caughtUp(f, join(f.dir, 'b', 'state'), reference);
    b.child.kill('SIGTERM');
    expect((await b.exit).code, b.stderr()).toBe(0);
  }, 900_000);

  it('graceful shutdown: SIGTERM exits 0; the restart restores only the changelog tail', async () => {
    const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH });
    namespaces.push(f);
    const dataDir = join(f.dir, 'w');
    const first = worker(f, dataDir);
    await caughtUp(f, join(dataDir, 'state'), reference);
    first.child.kill('SIGTERM');
    expect((await first.exit).code, first.stderr()).toBe(0);

    const restoredBy = async (p: Proc): Promise<number> => {
      const start = await p.waitFor((l) => l.event === 'start', 120_000);
      await p.waitFor((l) => l.event === 'ready', 120_000);
      const m = await get(Number(start.port), '/metrics');
      const lines = m.text.split('\n').filter((l) => l.startsWith('eddy_restore_records_total{'));
      expect(lines.length).toBe(2); // both stores report
      return lines.reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    };
    const second = worker(f, dataDir);
    expect(await restoredBy(second)).toBe(0);
    second.child.kill('SIGTERM');
    expect((await second.exit).code, second.stderr()).toBe(0);

    // without local state, everything is restored: exactly the changelogs' records
    rmSync(join(dataDir, 'state'), { recursive: true, force: true });
    let changelogRecords = 0;
    for (const s of f.topology.stores.values())
      for (const o of await f.log.offsets(s.changelog))
        for await (const b of f.log.read({ topic: s.changelog, partition: o.partition })) changelogRecords += b.length;
    const third = worker(f, dataDir);
    expect(await restoredBy(third)).toBe(changelogRecords);
    third.child.kill('SIGTERM');
    expect((await third.exit).code, third.stderr()).toBe(0);
    expect(await decodedSnapshot(f.log, f.registry, join(dataDir, 'state'), f.topology)).toEqual(reference);
  }, 900_000);

  it('broker restart mid-run: the worker rides it out or exits non-zero and resumes; identical', async () => {
    const port = '19092';
    const script = join(ROOT, 'scripts', 'kafka-local');
    const brokerEnv = { ...process.env, KAFKA_PORT: port };
    execFileSync(script, ['start'], { env: brokerEnv, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    try {
      const f = await flightNamespace({ limit: N, maxBatchRecords: BATCH, brokers: [`127.0.0.1:${port}`] });
      namespaces.push(f);
      const dataDir = join(f.dir, 'w');
      let p = worker(f, dataDir);
      await eventually(
        'a third of the flights committed',
        async () => (await committedSum(f.log, f.topology.groupId, f.topics.flights)) >= N / 3,
        180_000,
        100,
      );
      execFileSync(script, ['restart'], {
        env: { ...brokerEnv, KEEP_DATA: '1' },
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 300_000,
      });
      const exitedEarly = await Promise.race([
        p.exit.then((e) => e),
        new Promise<undefined>((r) => setTimeout(r, 5_000)),
      ]);
      if (exitedEarly !== undefined) {
        expect(exitedEarly.code, 'a worker that gives up must exit non-zero').not.toBe(0);
        p = worker(f, dataDir);
      }
      await caughtUp(f, join(dataDir, 'state'), reference);
      p.child.kill('SIGTERM');
      expect((await p.exit).code, p.stderr()).toBe(0);
    } finally {
      execFileSync(script, ['stop'], { env: brokerEnv, stdio: 'ignore', timeout: 120_000 });
    }
  }, 900_000);
});
