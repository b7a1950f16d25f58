/**
 * One benchmark phase in its own process, so that its peak RSS is its own. Prints one JSON line:
 * `{ phase, records, ms, cpuMs, maxRssBytes, ... }`. Usage: node dist/bench/phase.js <phase> <dataDir> [args]
 *   load [limit]          load flights (and airports) into the embedded log
 *   raw                   read every record of topic flights and append it to topic bench-copy (no processing)
 *   pipeline [batch]      run flight-delays v1 until idle
 *   version <N>           run flight-delays version N alone until idle (a replay when another version ran before)
 *   shared                run flight-delays v1 and v2 in one runner (one read of the input) until idle: from the
 *                         start for both, or (after `version 1`) v2 replaying beside a caught-up v1; the records
 *                         counted are v2's
 *   threads               as `shared`, with one thread per version (`ThreadedRunner`, a worker's default)
 *   diff                  eddy diff of v1 and v2's two stores (after `version 1` and `version 2`, or `shared`)
 *   trace <store> <key> [window]  eddy trace of one key (JSON) of a v1 store (after `pipeline`), beside a raw read
 *                         of topic flights in the same process (the floor any replay pays); wall and CPU ms of each
 */
import { join } from 'node:path';
import { loadFlightData } from '../examples/flight-delays/load.js';
import { buildFlightDelays, flightDelaysVersions } from '../examples/flight-delays/topology.js';
import { loadConfig } from '../src/config/index.js';
import { traceStore } from '../src/debug/trace.js';
import type { ProducerRecord } from '../src/log/contract.js';
import { EmbeddedLog } from '../src/log/embedded/index.js';
import { diffVersions } from '../src/replay/diff.js';
import { TopologyRunner } from '../src/runtime/runner.js';
import { ThreadedRunner } from '../src/runtime/threads/host.js';
import { LocalSchemaRegistry } from '../src/schema/local-registry.js';

const [phase, dataDir, arg] = process.argv.slice(2);
const logPath = join(dataDir, 'log.db');
const log = new EmbeddedLog(logPath);
const registry = LocalSchemaRegistry.open(logPath);
const started = performance.now();
const result: Record<string, unknown> = { phase };

if (phase === 'load') {
  const r = await loadFlightData({ log, registry, limit: arg ? Number(arg) : undefined });
  result.records = r.flights;
} else if (phase === 'raw') {
  const offs = await log.offsets('flights');
  await log.createTopics([{ name: 'bench-copy', partitions: offs.length }]);
  const producer = log.producer();
  let n = 0;
  for (const o of offs) {
    for await (const batch of log.read({ topic: 'flights', partition: o.partition }, { maxBatchRecords: 5000 })) {
      const out: ProducerRecord[] = batch.map((r) => ({
        topic: 'bench-copy',
        partition: r.partition,
        key: r.key,
        value: r.value,
        headers: r.headers,
        timestamp: r.timestamp,
      }));
      await producer.send(out);
      n += batch.length;
    }
  }
  await producer.close();
  result.records = n;
} else if (phase === 'pipeline') {
  const t = buildFlightDelays();
  const runner = new TopologyRunner(t, {
    log,
    registry,
    stateDir: join(dataDir, 'state'),
    untilIdle: true,
    maxBatchRecords: arg ? Number(arg) : 5000,
  });
  const stats = await runner.run();
  result.records = stats.totalIn(['flights']);
  result.commits = stats.commits;
  result.changelogRecords = Object.fromEntries([...stats.recordsOut].filter(([k]) => k.endsWith('.changelog')));
  result.deadLetters = Object.fromEntries(stats.deadLetters);
  result.outputs = stats.recordsOut.get('airport-delays-hourly.v1') ?? 0;
} else if (phase === 'version' || phase === 'shared' || phase === 'threads') {
  const versions = flightDelaysVersions().filter((t) => phase !== 'version' || t.version === Number(arg));
  const o = { log, registry, stateDir: join(dataDir, 'state'), untilIdle: true, maxBatchRecords: 5000 };
  const runner =
    phase === 'threads'
      ? new ThreadedRunner(versions, {
          ...o,
          threads: {
            config: loadConfig({ env: { EDDY_DATA_DIR: dataDir }, cwd: dataDir }).config,
            topology: 'flight-delays',
          },
        })
      : new TopologyRunner(versions, o);
  await runner.run();
  result.records = runner.versions[runner.versions.length - 1].stats.totalIn(['flights']);
  result.perVersion = Object.fromEntries(
    runner.versions.map((v) => [v.topology.version, v.stats.totalIn(['flights'])]),
  );
  result.fetched = runner.fetched;
} else if (phase === 'diff') {
  const [v1, v2] = flightDelaysVersions();
  const times: Record<string, number> = {};
  let records = 0;
  for (const what of ['route_stats', 'delays_by_airport_hour']) {
    const t0 = performance.now();
    const d = await diffVersions({
      log,
      registry,
      stateDir: join(dataDir, 'state'),
      a: v1,
      b: v2,
      what,
      fields: ['delayed'],
    });
    times[what] = Math.round(performance.now() - t0);
    records += d.keysA + d.keysB;
    result[`${what}.different`] = d.different;
  }
  result.records = records;
  result.diffMs = times;
} else if (phase === 'trace') {
  const [key, window] = process.argv.slice(5);
  const cpuMs = (u: NodeJS.CpuUsage) => Math.round((u.user + u.system) / 1000);
  const c0 = process.cpuUsage();
  let n = 0;
  for (const o of await log.offsets('flights'))
    for await (const b of log.read({ topic: 'flights', partition: o.partition })) n += b.length;
  result.rawReadMs = Math.round(performance.now() - started);
  result.rawReadCpuMs = cpuMs(process.cpuUsage(c0));
  const [t0, c1] = [performance.now(), process.cpuUsage()];
  const r = await traceStore({
    log,
    registry,
    topology: buildFlightDelays(),
    store: arg,
    key: JSON.parse(key),
    windowMs: window ? Date.parse(window) : undefined,
  });
  result.traceMs = Math.round(performance.now() - t0);
  result.traceCpuMs = cpuMs(process.cpuUsage(c1));
  result.records = r.replayed.reduce((a, x) => a + x.records, 0);
  result.rawRecords = n;
  result.steps = r.steps.length;
  result.repartition = r.repartition;
} else {
  throw new Error(`unknown phase ${phase}`);
}
result.ms = Math.round(performance.now() - started);
result.maxRssBytes = process.resourceUsage().maxRSS * 1024;
{
  // CPU time of this process (user + system), ms: on a shared machine wall time also counts other processes' work.
  const cpu = process.cpuUsage();
  result.cpuMs = Math.round((cpu.user + cpu.system) / 1000);
}
await log.close();
await registry.close();
console.log(JSON.stringify(result));
