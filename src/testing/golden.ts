/**
 * Golden tests for a topology: a folder holds `case.json` (the inputs), one `<file>.jsonl` per input topic, and the
 * expected results under `expected/`: `<topic>.jsonl` per output and dead-letter topic (rows of `rows.ts`), and
 * `stores/<store>.jsonl` per state store (rows as `eddy inspect` prints them). `goldenTest` runs the case and fails
 * when any expected file differs from the run, is missing from the run, or the run made a file no fixture expects.
 * Set `EDDY_GOLDEN_RECORD=1` (or `record: true`) to (re-)record the expected files instead, then review the diff.
 *
 * `case.json`: `{ "description"?: string, "maxBatchRecords"?: number, "inputs": [{ "topic", "file", "partitions"?:
 * number (default 1), "compacted"?: boolean, "timestampField"?: string }] }`. Input lines: `{ "key", "value" }`, or
 * `"valueHex"` for raw value bytes (malformed records), with an optional `"timestamp"` (ms since epoch); without one,
 * the value's `timestampField`, else 0.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ConfigError, EddyError } from '../errors.js';
import { LocalSchemaRegistry } from '../schema/local-registry.js';
import type { Topology } from '../topology/graph.js';
import { TopologyTestDriver } from './driver.js';
import { deadLetterRow, outputRow, REGISTRY_PLACEHOLDER, sortStoreRows, storeRow } from './rows.js';
import type { RawTestInputRecord } from './types.js';

/** One input of a golden case. */
export interface GoldenInput {
  readonly topic: string;
  /** The `.jsonl` file, relative to the case folder. */
  readonly file: string;
  /** Partition count of the topic; default 1. */
  readonly partitions?: number;
  /** Create the topic compacted (global tables' topics); default false. */
  readonly compacted?: boolean;
  /** A field of the value that holds each record's timestamp (ms since epoch), for lines without `timestamp`. */
  readonly timestampField?: string;
}

/** `case.json`. */
export interface GoldenCase {
  readonly description?: string;
  /** Name of the topology (informational; the test passes the topology itself). */
  readonly topology?: string;
  /** Version of the topology the expected files are of (informational, like `topology`). */
  readonly version?: number;
  readonly inputs: readonly GoldenInput[];
  /** Records per batch; default 5,000 (the runner's default). */
  readonly maxBatchRecords?: number;
}

/** One input line, parsed. */
export interface GoldenInputLine {
  readonly key: unknown;
  readonly value?: unknown;
  readonly valueHex?: string;
  readonly timestamp?: number;
}

/** The results of a run: expected-file path (relative to `expected/`, `/`-separated) -> JSON lines. */
export type GoldenOutputs = Map<string, string[]>;

/** Which engine runs the case: the in-memory test driver (default) or the real runtime on a temporary embedded log. */
export type GoldenEngine = 'driver' | 'embedded-log';

/** Options of `goldenTest` and `runGoldenCase`. */
export interface GoldenTestOptions {
  readonly topology: Topology | (() => Topology | Promise<Topology>);
  /** Default `driver`. */
  readonly engine?: GoldenEngine;
  /** Record the expected files instead of comparing; default `process.env.EDDY_GOLDEN_RECORD === '1'`. */
  readonly record?: boolean;
  /** (text, placeholder) pairs replaced in dead-letter reasons, for text that differs between machines. */
  readonly replace?: readonly (readonly [string, string])[];
}

/** How one expected file and the run disagree. */
export interface GoldenDifference {
  readonly file: string;
  readonly kind: 'differs' | 'missing-from-run' | 'not-expected';
  readonly detail: string;
}

/** A golden case's run does not match its expected files. */
export class GoldenMismatchError extends EddyError {
  constructor(
    dir: string,
    readonly differences: readonly GoldenDifference[],
  ) {
    super(
      'GOLDEN_MISMATCH',
      `golden case ${dir} does not match its expected files:\n${differences.map((d) => `  ${d.file}: ${d.detail}`).join('\n')}\nIf the change is intended, re-record with EDDY_GOLDEN_RECORD=1 and review the diff.`,
      { details: { dir, differences } },
    );
  }
}

const jsonLines = (path: string): string[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

/** Reads and checks `case.json` of a case folder. Throws ConfigError naming the problem. */
export function readGoldenCase(dir: string): GoldenCase {
  const path = join(dir, 'case.json');
  if (!existsSync(path)) throw new ConfigError(`golden case ${dir} has no case.json`, { path });
  const spec = JSON.parse(readFileSync(path, 'utf8')) as GoldenCase;
  if (!Array.isArray(spec.inputs) || spec.inputs.length === 0)
    throw new ConfigError(`${path}: "inputs" must list at least one { topic, file }`, { path });
  for (const i of spec.inputs)
    if (typeof i.topic !== 'string' || typeof i.file !== 'string' || !existsSync(join(dir, i.file)))
      throw new ConfigError(`${path}: input ${JSON.stringify(i)} needs a topic and an existing file`, { path });
  return spec;
}

/** The input lines of one input of a case. */
export function readGoldenInput(dir: string, input: GoldenInput): GoldenInputLine[] {
  return jsonLines(join(dir, input.file)).map((l) => JSON.parse(l) as GoldenInputLine);
}

/** The timestamp of an input line: its `timestamp`, else the value's `timestampField`, else 0. */
export function timestampOf(line: GoldenInputLine, input: GoldenInput): number {
  if (line.timestamp !== undefined) return line.timestamp;
  const v = line.value as Record<string, unknown> | undefined;
  const t = input.timestampField === undefined ? undefined : v?.[input.timestampField];
  return typeof t === 'number' ? t : 0;
}

/** The case folders (those holding a `case.json`) directly under `root`, sorted by name. */
export function goldenCases(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'case.json')))
    .map((d) => d.name)
    .sort();
}

async function topologyOf(opts: GoldenTestOptions): Promise<Topology> {
  return typeof opts.topology === 'function' ? await opts.topology() : opts.topology;
}

/** Runs a case with the chosen engine and returns its results (nothing is compared or written). */
export async function runGoldenCase(dir: string, opts: GoldenTestOptions): Promise<GoldenOutputs> {
  const spec = readGoldenCase(dir);
  const topology = await topologyOf(opts);
  if ((opts.engine ?? 'driver') === 'embedded-log') {
    const { runOnEmbeddedLog } = await import('./golden-runtime.js');
    return runOnEmbeddedLog(dir, spec, topology, opts.replace ?? []);
  }
  return runWithDriver(dir, spec, topology, opts.replace ?? []);
}

async function runWithDriver(
  dir: string,
  spec: GoldenCase,
  topology: Topology,
  replace: readonly (readonly [string, string])[],
): Promise<GoldenOutputs> {
  const partitions = Object.fromEntries(spec.inputs.map((i) => [i.topic, i.partitions ?? 1]));
  // The inputs' schemas are registered first, in the case's order, as producers writing the inputs would have done
  // before the topology ran: schema ids (and so the bytes in dead letters) are those of the embedded-log engine.
  const registry = LocalSchemaRegistry.open(':memory:');
  let driver: TopologyTestDriver;
  try {
    for (const input of spec.inputs) {
      const info = topology.topics.get(input.topic);
      if (info?.keySchema === undefined || info.valueSchema === undefined)
        throw new ConfigError(`golden case ${dir}: "${input.topic}" is not an input of ${topology.name}`, {
          topic: input.topic,
        });
      await registry.register(`${input.topic}-key`, info.keySchema);
      await registry.register(`${input.topic}-value`, info.valueSchema);
    }
    driver = await TopologyTestDriver.create(topology, { partitions, maxBatchRecords: spec.maxBatchRecords, registry });
  } catch (err) {
    await registry.close();
    throw err;
  }
  try {
    // Global tables first: the runtime bootstraps them before it processes any record.
    const isGlobal = (i: GoldenInput) => topology.topics.get(i.topic)?.role === 'global';
    for (const group of [spec.inputs.filter(isGlobal), spec.inputs.filter((i) => !isGlobal(i))]) {
      const records: RawTestInputRecord[] = [];
      for (const input of group)
        for (const line of readGoldenInput(dir, input)) {
          const timestampMs = timestampOf(line, input);
          const r = driver.serializeInput({
            topic: input.topic,
            key: line.key,
            value: line.valueHex !== undefined ? null : (line.value ?? null),
            timestampMs,
          });
          records.push(line.valueHex !== undefined ? { ...r, value: Buffer.from(line.valueHex, 'hex') } : r);
        }
      await driver.pipeRawInputs(records);
    }
    const out: GoldenOutputs = new Map();
    const reasons = [['local registry :memory:', REGISTRY_PLACEHOLDER] as const, ...replace];
    for (const info of topology.topics.values()) {
      if (info.role === 'output') {
        // Rows partition by partition in offset order, as a reader of the topic sees them.
        const valueAt = new Map(driver.readOutput(info.name).map((o) => [`${o.partition}/${o.offset}`, o.value]));
        out.set(
          `${info.name}.jsonl`,
          driver.records(info.name).map((r) => outputRow(r, valueAt.get(`${r.partition}/${r.offset}`))),
        );
      } else if (info.role === 'dlq')
        out.set(
          `${info.name}.jsonl`,
          driver.records(info.name).map((r) => deadLetterRow(r, reasons)),
        );
    }
    for (const info of topology.stores.values()) {
      const rows =
        info.kind === 'kv'
          ? driver
              .kvStore(info.name)
              .all()
              .map((e) => ({ row: storeRow(info, e.key, e.value), startMs: 0 }))
          : driver
              .windowStore(info.name)
              .all()
              .map((e) => ({ row: storeRow(info, e.key, e.value, e.windowStartMs), startMs: e.windowStartMs }));
      out.set(`stores/${info.name}.jsonl`, sortStoreRows(info, rows));
    }
    return out;
  } finally {
    await driver.close();
    await registry.close();
  }
}

function expectedFiles(dir: string): string[] {
  const root = join(dir, 'expected');
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.jsonl')) out.push(relative(root, join(d, e.name)).split('\\').join('/'));
    }
  };
  walk(root);
  return out.sort();
}

/** Compares a run with the expected files of `dir`: every file both ways, line by line. Empty when equal. */
export function compareGolden(dir: string, got: GoldenOutputs): GoldenDifference[] {
  const diffs: GoldenDifference[] = [];
  const expected = expectedFiles(dir);
  for (const file of expected)
    if (!got.has(file))
      diffs.push({ file, kind: 'missing-from-run', detail: 'expected, but the run produced no such output' });
  for (const [file, rows] of [...got].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (!expected.includes(file)) {
      diffs.push({
        file,
        kind: 'not-expected',
        detail: `the run produced ${rows.length} row(s) but there is no expected file`,
      });
      continue;
    }
    const want = jsonLines(join(dir, 'expected', file));
    const n = Math.max(want.length, rows.length);
    for (let i = 0; i < n; i++)
      if (want[i] !== rows[i]) {
        diffs.push({
          file,
          kind: 'differs',
          detail: `${want.length} row(s) expected, ${rows.length} produced; first difference at line ${i + 1}:\n    expected ${want[i] ?? '(nothing)'}\n    got      ${rows[i] ?? '(nothing)'}`,
        });
        break;
      }
  }
  return diffs;
}

/** Writes a run as the expected files of `dir`, removing expected files the run no longer produces. */
export function recordGolden(dir: string, got: GoldenOutputs): void {
  for (const file of expectedFiles(dir)) if (!got.has(file)) rmSync(join(dir, 'expected', file));
  for (const [file, rows] of got) {
    const path = join(dir, 'expected', file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, rows.map((r) => `${r}\n`).join(''));
  }
}

/**
 * Runs the golden case in `dir` and compares it with its expected files (or records them, see `record`).
 * Resolves with the run's results; rejects with `GoldenMismatchError` listing every difference. Works with any
 * test runner: `it('my case', () => goldenTest(dir, { topology: build }))`.
 */
export async function goldenTest(dir: string, opts: GoldenTestOptions): Promise<GoldenOutputs> {
  const got = await runGoldenCase(dir, opts);
  if (opts.record ?? process.env.EDDY_GOLDEN_RECORD === '1') {
    recordGolden(dir, got);
    return got;
  }
  const diffs = compareGolden(dir, got);
  if (diffs.length > 0) throw new GoldenMismatchError(dir, diffs);
  return got;
}
