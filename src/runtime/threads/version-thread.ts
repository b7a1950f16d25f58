/**
 * The entry of a version thread (`worker_threads`): one version of a topology, run by its own `TopologyRunner` with
 * its own log and registry connections, stores, producers and committed positions, reading the batches its host
 * fetched for every version (`PortConsumer`). Started by `host.ts` with a `ThreadInit` as `workerData`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openBackend } from '../../cli/env.js';
import { loadVersions } from '../../cli/topologies.js';
import { EddyError } from '../../errors.js';
import { fingerprintOf } from '../../replay/fingerprint.js';
import { TopologyRunner } from '../runner.js';
import { internalSourceTopicsOf } from '../version.js';
import { PortConsumer } from './port-consumer.js';
import { type HostMessage, type IdleReply, type ThreadInit, type ThreadMessage, toWire } from './protocol.js';

/** How often a thread sends its counters and readiness to its host, ms. */
export const STATUS_INTERVAL_MS = 250;

const port = parentPort;
if (port === null) throw new Error('version-thread.ts runs as a worker thread (started by threads/host.ts)');
const init = workerData as ThreadInit;
const send = (m: ThreadMessage) => port.postMessage(m);

const backend = await openBackend(init.config, {
  embeddedWriteLock: init.writeLock,
  // rides out registry outages as the host's registry does (the thread's down/up events are not logged; its errors are)
  worker: {},
  kafkaLogSink: init.forwardKafkaLog
    ? (line) => send({ t: 'kafka-log', line: JSON.parse(JSON.stringify(line)) })
    : undefined,
});
const versions = await loadVersions(init.topology, init.config.topologies);
const topology = versions.find((t) => t.version === init.version);
let runner: TopologyRunner | undefined;
/** `run` was called: a stop ends the run (and `finish` follows it); before that, a stop finishes at once. */
let running = false;
// On the embedded log the thread reads its repartition topics itself (`direct-read.ts`); on Kafka through the host.
const consumer = new PortConsumer(
  send,
  (topic, partition, offset) => runner?.sharedStartedAt(topic, partition, offset),
  init.directReads && topology !== undefined
    ? { log: backend.log, topics: internalSourceTopicsOf(topology), maxBatchRecords: init.maxBatchRecords }
    : undefined,
);
let setupError: unknown;
if (topology === undefined)
  setupError = new EddyError(
    'VERSION_NOT_IN_CODE',
    `${init.topology} has no version ${init.version} in this thread's code`,
  );
else if (fingerprintOf(topology, { processingGuarantee: init.processingGuarantee }).hash !== init.fingerprint)
  setupError = new EddyError(
    'THREAD_CODE_DIFFERS',
    `${topology.groupId} loaded in a version thread has another fingerprint than in its host: load the topology from its module (${init.topology} in the configuration), not from code built in the host alone`,
  );
else
  runner = new TopologyRunner(topology, {
    log: backend.log,
    registry: backend.registry,
    stateDir: init.stateDir ?? backend.paths.stateDir,
    maxBatchRecords: init.maxBatchRecords,
    maxCacheEntries: init.maxCacheEntries,
    processingGuarantee: init.processingGuarantee,
    knownVersions: init.knownVersions,
    untilIdle: false, // the host decides when every version is idle (see host.ts)
    retiredCheckMs: init.retiredCheckMs,
    consumer: () => consumer,
    onBatch: (_stats, info) => {
      consumer.direct?.wake(); // its commit may have appended to a repartition topic it reads
      send({ t: 'batch', info });
    },
    onRestore: (task, store, done, total) => send({ t: 'restore', task, store, done, total }),
    onWarning: (event, message) => send({ t: 'warning', event, message }),
    onQuarantine: (q) => send({ t: 'quarantine', q: JSON.parse(JSON.stringify(q)) }),
    onAssigned: (tasks, partitions) => send({ t: 'assigned', tasks, partitions }),
    onRevoked: (tasks, partitions) => send({ t: 'revoked', tasks, partitions }),
    onRestored: (task) => send({ t: 'restored', task }),
  });

function status(): void {
  if (runner === undefined) return;
  send({
    t: 'status',
    stats: runner.stats.counters(),
    readiness: runner.readiness(),
    catchUpRecords: runner.fetched.catchUpRecords,
    directRecords: consumer.direct?.records ?? 0,
  });
}
const timer = setInterval(status, STATUS_INTERVAL_MS);

let finished = false;
async function finish(error?: unknown): Promise<void> {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  status();
  await backend.close().catch(() => undefined);
  send({ t: 'done', error: error === undefined ? undefined : toWire(error), retired: runner?.retiredVersions ?? [] });
  port?.close();
}

port.on('message', (m: HostMessage) => {
  if (m.t === 'call') {
    const reply = (error?: unknown, value?: IdleReply) =>
      send({ t: 'reply', id: m.id, error: error === undefined ? undefined : toWire(error), value });
    const { call } = m;
    let p: Promise<void>;
    if (call.op === 'check') p = setupError !== undefined ? Promise.reject(setupError) : runner!.check();
    else if (call.op === 'create') p = runner!.create();
    else if (call.op === 'idle') {
      reply(undefined, { idle: !consumer.busy && (runner?.idleNow() ?? true), commits: runner?.stats.commits ?? 0 });
      return;
    } else p = consumer.handle(call);
    p.then(
      () => reply(),
      (err: unknown) => reply(err),
    );
  } else if (m.t === 'stop') {
    if (runner === undefined || !running) void finish(runner === undefined ? setupError : undefined);
    else if (m.idle === true) void runner.endIdle();
    else void runner.stop();
  } else if (m.t === 'run') {
    if (runner === undefined) {
      void finish(setupError);
      return;
    }
    running = true;
    runner.run().then(
      () => finish(),
      (err: unknown) => finish(err),
    );
  }
});
