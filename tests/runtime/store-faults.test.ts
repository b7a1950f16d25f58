/**
 * Fault test (issue 9, item 3), end to end through the CLI on the embedded log: run flight-delays on a small input,
 * damage a store file in one way, run again; the run succeeds, names the store and file on stderr, the damaged
 * file is in `<stateDir>/quarantine/` byte for byte, and the stores and output topics equal the fresh run's.
 * The faults are applied one after another to the same data directory (each run repairs the previous one).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { fingerprintOf } from '../../src/replay/fingerprint.js';
import { storeFiles } from '../../src/runtime/inspect.js';
import { TaskStores } from '../../src/state/task-stores.js';
import { openBackendAt, tempBackend } from '../helpers/backend.js';
import { eddy } from '../helpers/proc.js';
import { type RunSnapshot, snapshot } from '../helpers/snapshot.js';
import { noise, overwrite } from '../state/task-stores-fixture.js';

const LIMIT = 20_000;
const PAGE = 4096;

describe('a damaged store file: the next run quarantines it, rebuilds the store, and ends equal to a fresh run', () => {
  const topology = buildFlightDelays();
  const env = tempBackend('eddy-store-faults-');
  const stateDir = env.stateDir;
  const quarantine = join(stateDir, 'quarantine');
  let expected: RunSnapshot;
  /** The store with at least two task files, and two of its files. */
  let store: string;
  let fileA: { task: string; path: string };
  let fileB: { task: string; path: string };

  async function run(): Promise<{ code: number | null; stderr: string }> {
    const p = eddy([
      '--data-dir',
      env.dataDir,
      'run',
      'flight-delays',
      '--until-idle',
      '--no-progress',
      '--max-batch-records',
      '1000',
    ]);
    const { code } = await p.exit;
    return { code, stderr: p.stderr() };
  }

  function quarantined(): string[] {
    return existsSync(quarantine)
      ? readdirSync(quarantine)
          .filter((f) => f.endsWith('.sqlite'))
          .sort()
      : [];
  }

  async function expectEqualToFreshRun(): Promise<void> {
    const again = openBackendAt(env.dataDir);
    try {
      const got = await snapshot(again.log, again.registry, again.stateDir, topology);
      expect(got.stores).toEqual(expected.stores);
      expect(got.topics).toEqual(expected.topics);
    } finally {
      await again.close();
    }
  }

  /** Damages `target`, runs again, and checks: exit 0, stderr names store and file, quarantined bytes, equality. */
  async function damageAndRun(
    target: { task: string; path: string },
    damage: (path: string) => void,
    reason: RegExp,
  ): Promise<void> {
    const before = quarantined();
    damage(target.path);
    const damaged = readFileSync(target.path);
    const { code, stderr } = await run();
    expect(code, stderr).toBe(0);
    expect(stderr).toContain(`state store "${store}" of task ${target.task} was quarantined`);
    expect(stderr).toContain(target.path);
    expect(stderr).toMatch(reason);
    const added = quarantined().filter((f) => !before.includes(f));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT.*Z-flight-delays\\.v1-${target.task}-${store}\\.sqlite$`),
    );
    expect(readFileSync(join(quarantine, added[0])).equals(damaged)).toBe(true);
    await expectEqualToFreshRun();
  }

  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
    await env.close();
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    const fresh = openBackendAt(env.dataDir);
    try {
      expected = await snapshot(fresh.log, fresh.registry, fresh.stateDir, topology);
    } finally {
      await fresh.close();
    }
    const candidates = [...topology.stores.values()]
      .map((s) => ({ name: s.name, files: storeFiles(stateDir, topology, s.name) }))
      .filter((s) => s.files.length >= 2)
      .sort((a, b) => b.files.length - a.files.length);
    expect(candidates.length).toBeGreaterThan(0);
    store = candidates[0].name;
    [fileA, fileB] = candidates[0].files;
    // the file must span enough pages for a mid-file fault
    expect(statSync(fileA.path).size).toBeGreaterThan(8 * PAGE);
  }, 300_000);
  afterAll(async () => {
    await env.destroy();
  });

  it('truncated', async () => {
    await damageAndRun(fileA, (p) => truncateSync(p, Math.floor(statSync(p).size / PAGE / 2) * PAGE), /truncated/);
  }, 120_000);

  it('garbage header', async () => {
    await damageAndRun(fileB, (p) => overwrite(p, 0, noise(100)), /not a SQLite database/);
  }, 120_000);

  it('bytes overwritten mid-file', async () => {
    await damageAndRun(
      fileA,
      (p) => overwrite(p, Math.floor(statSync(p).size / PAGE / 2) * PAGE, noise(PAGE, 11)),
      /quick_check/,
    );
  }, 120_000);

  it('zero length', async () => {
    await damageAndRun(fileB, (p) => truncateSync(p, 0), /zero length/);
  }, 120_000);

  it('a file of another version (identity says v2)', async () => {
    await damageAndRun(
      fileA,
      (p) => {
        const db = new Database(p);
        db.prepare("UPDATE meta SET value = '2' WHERE name = 'identity.version'").run();
        db.close();
      },
      /version is 2, expected 1/,
    );
  }, 120_000);

  it("two tasks' files swapped: both refused, both rebuilt", async () => {
    const before = quarantined();
    const bytesA = readFileSync(fileA.path);
    const bytesB = readFileSync(fileB.path);
    renameSync(fileA.path, `${fileA.path}.tmp`);
    renameSync(fileB.path, fileA.path);
    renameSync(`${fileA.path}.tmp`, fileB.path);
    const { code, stderr } = await run();
    expect(code, stderr).toBe(0);
    for (const f of [fileA, fileB]) {
      expect(stderr).toContain(`state store "${store}" of task ${f.task} was quarantined (mismatch`);
      expect(stderr).toContain(f.path);
    }
    const added = quarantined().filter((f) => !before.includes(f));
    expect(added).toHaveLength(2);
    const moved = added.map((f) => readFileSync(join(quarantine, f)));
    expect(moved.some((b) => b.equals(bytesA))).toBe(true);
    expect(moved.some((b) => b.equals(bytesB))).toBe(true);
    await expectEqualToFreshRun();
  }, 120_000);

  it('a stale copy from an older checkpoint is kept and restored to the end (nothing quarantined)', async () => {
    // The stale copy: the same store of the same task, restored only part way from its changelog.
    const info = topology.stores.get(store)!;
    const scratch = join(env.dataDir, 'scratch');
    mkdirSync(scratch, { recursive: true });
    const opened = openBackendAt(env.dataDir);
    const passthrough = { serialize: (b: unknown) => b as Buffer, deserialize: (b: Buffer) => b };
    const partial = new TaskStores({
      log: opened.log,
      stateDir: scratch,
      topology: topology.name,
      version: topology.version,
      group: topology.groupId,
      task: fileA.task,
      partition: Number(fileA.task.split('_')[1]),
      // a real stale copy was written by the same code: the same fingerprint as the runtime records
      fingerprint: fingerprintOf(topology, { processingGuarantee: 'exactly-once' }).hash,
      stores: [
        { name: store, kind: info.kind, changelog: info.changelog, keySerde: passthrough, valueSerde: passthrough },
      ],
    });
    try {
      await partial.open();
      expect(await partial.restoreStep(100)).toBe(false);
      expect(partial.progress()[0].restored).toBeGreaterThan(0);
    } finally {
      await partial.close();
      await opened.close();
    }
    copyFileSync(join(scratch, topology.groupId, fileA.task, `${store}.sqlite`), fileA.path);
    const before = quarantined();
    const { code, stderr } = await run();
    expect(code, stderr).toBe(0);
    expect(stderr).not.toContain('quarantined');
    expect(quarantined()).toEqual(before);
    await expectEqualToFreshRun();
  }, 120_000);
});
