/**
 * Vitest globalSetup: brings up a local Kafka broker and a Confluent-compatible schema registry for the run,
 * unless the environment already points at some, and stops (only) what it started.
 *
 * Wire it in with `test.globalSetup: ['tests/infra/global-setup.ts']`.
 *
 * How tests get the addresses (both ways work in every pool, since vitest builds the workers' environment
 * from process.env after globalSetup has run):
 *   - environment variables: KAFKA_BROKERS (e.g. "127.0.0.1:9092") and SCHEMA_REGISTRY_URL
 *     (e.g. "http://127.0.0.1:8081/apis/ccompat/v7"); also KAFKA_PORT / REGISTRY_PORT when started here, so a
 *     test that runs `scripts/kafka-local restart` addresses the same broker;
 *   - `inject('kafkaBrokers')` / `inject('schemaRegistryUrl')` from 'vitest' ('' when not available).
 *
 * Environment read here:
 *   KAFKA_BROKERS        set: use that cluster, start nothing
 *   SCHEMA_REGISTRY_URL  set: use that registry, start nothing
 *   EDDY_INFRA           which services to start when not given: "kafka,registry" (default), "kafka",
 *                        "registry", or "none" (start nothing: tests needing them must skip)
 *   KAFKA_PORT, REGISTRY_PORT, EDDY_INFRA_DIR, ... are passed through to scripts/kafka-local and
 *   scripts/registry-local (see infra/README.md).
 * A service that is already running (started by hand with the same script and port) is reused and left running.
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// brings 'vitest' into the program so that the ProvidedContext augmentation below resolves under tsc
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    schemaRegistryUrl: string;
  }
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const kafkaScript = path.join(repoRoot, 'scripts', 'kafka-local');
const registryScript = path.join(repoRoot, 'scripts', 'registry-local');

const started: string[] = [];

function isRunning(script: string): boolean {
  try {
    execFileSync(script, ['status'], { stdio: 'ignore', env: process.env });
    return true;
  } catch {
    return false;
  }
}

/** Runs `<script> start`; resolves with the address it prints on stdout. Its progress goes to our stderr. */
function start(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(script, ['start'], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const address = out.trim().split('\n').pop() ?? '';
      if (code === 0 && address) resolve(address);
      else reject(new Error(`${path.basename(script)} start failed (exit ${code}); see its output above`));
    });
  });
}

function stop(script: string): void {
  try {
    execFileSync(script, ['stop'], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
  } catch (err) {
    console.error(`${path.basename(script)} stop failed:`, err);
  }
}

function stopStarted(): void {
  while (started.length > 0) stop(started.pop()!);
}

export async function setup(project: TestProject): Promise<void> {
  const wanted = new Set(
    (process.env.EDDY_INFRA ?? 'kafka,registry')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'none'),
  );
  const pending: Promise<void>[] = [];

  if (!process.env.KAFKA_BROKERS && wanted.has('kafka')) {
    const port = process.env.KAFKA_PORT ?? '9092';
    process.env.KAFKA_PORT = port;
    const reuse = isRunning(kafkaScript);
    pending.push(
      start(kafkaScript).then((brokers) => {
        if (!reuse) started.push(kafkaScript);
        process.env.KAFKA_BROKERS = brokers;
      }),
    );
  }
  if (!process.env.SCHEMA_REGISTRY_URL && wanted.has('registry')) {
    const port = process.env.REGISTRY_PORT ?? '8081';
    process.env.REGISTRY_PORT = port;
    const reuse = isRunning(registryScript);
    pending.push(
      start(registryScript).then((url) => {
        if (!reuse) started.push(registryScript);
        process.env.SCHEMA_REGISTRY_URL = url;
      }),
    );
  }

  if (pending.length > 0) {
    // a run that dies without reaching teardown (e.g. an uncaught error in vitest) still stops the JVMs
    process.once('exit', stopStarted);
    const results = await Promise.allSettled(pending);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      stopStarted();
      throw failed.reason;
    }
  }

  project.provide('kafkaBrokers', process.env.KAFKA_BROKERS ?? '');
  project.provide('schemaRegistryUrl', process.env.SCHEMA_REGISTRY_URL ?? '');
}

export async function teardown(): Promise<void> {
  stopStarted();
}
