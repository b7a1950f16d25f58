/**
 * Runs scenarios through Kafka Streams 3.9.1's own `TopologyTestDriver` (the Maven project in ./kstreams): builds it
 * once per version of its sources (`mvn -q -B package` into a cache dir keyed by a hash of pom.xml and src/, the way
 * scripts/kafka-local resolves the broker's jars from Maven Central into ~/.cache/eddy-infra), then runs every
 * scenario in one JVM. Throws, never skips, when Java or Maven is missing: the differential test must run in CI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT = join(dirname(fileURLToPath(import.meta.url)), 'kstreams');

/** One input record: keys are strings or null, values JSON or null (a tombstone), `ts` ms since epoch. */
export interface ScenarioRecord {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Record<string, unknown> | null;
  readonly ts: number;
}

/** A scenario: an operator of tests/differential/kstreams/.../Scenarios.java, its parameters, its input in order. */
export interface Scenario {
  readonly name: string;
  readonly op: string;
  readonly params: Record<string, unknown>;
  readonly input: readonly ScenarioRecord[];
}

/** An output record; `after` is the index of the input record whose piping produced it. */
export interface OutputRecord {
  readonly topic: string;
  readonly key: string | null;
  readonly value: unknown;
  readonly ts: number;
  readonly after: number;
}

/** Per scenario: its outputs in order, or the error Kafka Streams threw. */
export type KStreamsResults = Record<string, { outputs?: OutputRecord[]; error?: string }>;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

function need(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0)
    throw new Error(
      `the differential test against Kafka Streams needs ${what} (\`${cmd} ${args.join(' ')}\` failed: ${r.error?.message ?? r.stderr}); install it (Debian: apt-get install openjdk-17-jdk-headless maven)`,
    );
}

/**
 * Builds the Kafka Streams side if its cache dir does not have it yet; returns the Java class path.
 * Cache: `$EDDY_INFRA_DIR` (default ~/.cache/eddy-infra) `/kstreams-differential/<hash>`; Maven's own repository
 * (~/.m2) caches the jars.
 */
export function buildKStreamsSide(): string {
  need(process.env.JAVA ?? 'java', ['-version'], 'Java 17+');
  const sources = [join(PROJECT, 'pom.xml'), ...files(join(PROJECT, 'src'))].sort();
  const hash = createHash('sha256');
  for (const f of sources) hash.update(relative(PROJECT, f)).update('\0').update(readFileSync(f)).update('\0');
  const root = join(process.env.EDDY_INFRA_DIR ?? join(homedir(), '.cache', 'eddy-infra'), 'kstreams-differential');
  const dir = join(root, hash.digest('hex').slice(0, 16));
  const classPath = `${join(dir, 'target', 'classes')}:${join(dir, 'target', 'lib', '*')}`;
  if (existsSync(join(dir, '.complete'))) return classPath;
  need(process.env.MVN ?? 'mvn', ['-v'], 'Maven');
  const tmp = `${dir}.tmp.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  cpSync(join(PROJECT, 'pom.xml'), join(tmp, 'pom.xml'));
  cpSync(join(PROJECT, 'src'), join(tmp, 'src'), { recursive: true });
  const r = spawnSync(process.env.MVN ?? 'mvn', ['-q', '-B', '-Dstyle.color=never', 'package'], {
    cwd: tmp,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`mvn package of ${PROJECT} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  writeFileSync(join(tmp, '.complete'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return classPath;
}

/** Runs the scenarios through Kafka Streams (one JVM) and returns its outputs per scenario name. */
export function runKStreams(classPath: string, scenarios: readonly Scenario[]): KStreamsResults {
  const work = join(tmpdir(), `eddy-kstreams-differential-${process.pid}-${Date.now()}`);
  mkdirSync(work, { recursive: true });
  try {
    const input = join(work, 'scenarios.json');
    const output = join(work, 'results.json');
    writeFileSync(input, JSON.stringify({ scenarios }));
    // the driver commits after every record, and RocksDB flushes a file on each commit: keep its state in memory
    const state = existsSync('/dev/shm')
      ? join('/dev/shm', `eddy-kstreams-differential-${process.pid}`)
      : join(work, 'state');
    try {
      execFileSync(
        process.env.JAVA ?? 'java',
        ['-Xmx512m', `-Ddifferential.state.dir=${state}`, '-cp', classPath, 'eddy.differential.Main', input, output],
        { stdio: ['ignore', 'inherit', 'inherit'] },
      );
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
    return JSON.parse(readFileSync(output, 'utf8')) as KStreamsResults;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
