/**
 * Golden tests: each folder `tests/golden/<case>/` holds `case.json` (topology and inputs), input fixtures and the
 * expected outputs under `expected/` (format: src/testing/golden.ts). Each case runs twice, through the test driver
 * (in memory) and through the real runtime on a fresh embedded log; both must equal the fixtures, so they agree.
 * A fixture the run no longer produces fails the case, as does a difference.
 *
 * To re-record after an intended change: `EDDY_GOLDEN_RECORD=1 npx vitest run tests/golden`, then review the diff
 * (recording uses the runtime; the driver is then compared with what it recorded).
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/cli/topologies.js';
import { goldenCases, goldenTest, readGoldenCase, runGoldenCase } from '../../src/testing/golden.js';

const here = dirname(fileURLToPath(import.meta.url));
const RECORD = process.env.EDDY_GOLDEN_RECORD === '1';
const cases = goldenCases(here);

describe('golden cases', () => {
  it('has at least one case', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    const dir = join(here, c);
    const spec = readGoldenCase(dir);
    const topology = () => loadTopology(spec.topology!, undefined, spec.version);
    it(`${c} (runtime on the embedded log)`, async () => {
      const got = await goldenTest(dir, { topology, engine: 'embedded-log', record: RECORD });
      expect(got.size).toBeGreaterThan(0);
    }, 120_000);
    it(`${c} (test driver)`, async () => {
      const got = await goldenTest(dir, { topology, engine: 'driver', record: false });
      expect(got.size).toBeGreaterThan(0);
    }, 60_000);
  }
});

describe('golden engines agree on a case that leaves out an input', () => {
  it('a case with no file for the global table: the driver and the runtime both run it with the table empty', async () => {
    const src = join(here, 'flight-delays-small');
    const dir = mkdtempSync(join(tmpdir(), 'eddy-golden-no-table-'));
    try {
      const spec = readGoldenCase(src);
      writeFileSync(
        join(dir, 'case.json'),
        JSON.stringify({ ...spec, inputs: spec.inputs.filter((i) => i.topic !== 'airports') }),
      );
      copyFileSync(join(src, 'flights.jsonl'), join(dir, 'flights.jsonl'));
      const topology = () => loadTopology(spec.topology!, undefined, spec.version);
      const runtime = await runGoldenCase(dir, { topology, engine: 'embedded-log' });
      const driver = await runGoldenCase(dir, { topology, engine: 'driver' });
      expect(driver).toEqual(runtime);
      // every valid flight misses its airport: dead-lettered by the join, nothing output
      const dlq = runtime.get('flight-delays.v1.dlq.jsonl') ?? [];
      expect(dlq.length).toBeGreaterThan(300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
