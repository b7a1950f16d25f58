/**
 * `eddy init`: a new directory becomes a project of the user's own that builds, tests and runs, as the README's "Your
 * own pipeline" shows. `npm install` is replaced by symlinks into this repository's node_modules (eddy itself, and
 * typescript, vitest, @types): the same packages, no network. Everything else is what a user runs: `eddy schemas
 * codegen`, `tsc`, `vitest run` of the generated tests (a TopologyTestDriver test and a golden case), `eddy produce`
 * of the CSV, `eddy run --until-idle`, and `eddy inspect` — in the project's directory, on the embedded log.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const EDDY = join(ROOT, 'dist', 'src', 'cli', 'main.js');
let base: string;
let project: string;

function run(args: string[], cwd = project): { code: number; out: string } {
  try {
    const out = execFileSync(process.execPath, args, {
      cwd,
      encoding: 'utf8',
      stdio: 'pipe',
      env: { ...process.env, EDDY_BACKEND: 'embedded', EDDY_DATA_DIR: '', EDDY_GOLDEN_RECORD: '' },
    });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: `${e.stdout}${e.stderr}` };
  }
}

beforeAll(() => {
  if (!existsSync(EDDY)) throw new Error(`eddy is not built: run \`npx tsc -p tsconfig.json\` in ${ROOT} first`);
  base = mkdtempSync(join(tmpdir(), 'eddy-init-'));
  project = join(base, 'page-stats');
});

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('eddy init', () => {
  it('writes a project that builds, passes its own tests, and runs on its CSV', () => {
    const init = run([EDDY, 'init', project], base);
    expect(init.code, init.out).toBe(0);
    expect(init.out).toContain('npm install');
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    expect(pkg.name).toBe('page-stats');
    expect(pkg.dependencies.eddy).toBe(`file:${ROOT}`);
    expect(JSON.parse(readFileSync(join(project, 'eddy.config.json'), 'utf8'))).toEqual({
      topologies: { 'page-stats': 'dist/src/topology.js' },
    });
    // what `npm install` would link
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(ROOT, join(project, 'node_modules', 'eddy'), 'dir');
    for (const dep of ['typescript', 'vitest', '@types'])
      symlinkSync(join(ROOT, 'node_modules', dep), join(project, 'node_modules', dep), 'dir');

    // npm test = codegen, tsc, vitest
    const codegen = run([EDDY, 'schemas', 'codegen']);
    expect(codegen.code, codegen.out).toBe(0);
    expect(codegen.out).toBe(`wrote ${join(project, 'src', 'generated', 'schemas.ts')}\n`);
    expect(existsSync(join(ROOT, 'src', 'generated', 'schemas.ts'))).toBe(true); // eddy's own left alone
    const tsc = run([join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
    expect(tsc.out).toBe('');
    const vitest = run([join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--dir', 'dist/tests']);
    expect(vitest.code, vitest.out).toBe(0);
    expect(vitest.out).toMatch(/Tests\s+.*2 passed/);

    // data in, run, look
    const produce = run([
      EDDY,
      'produce',
      'page-views',
      '--file',
      'data/page-views.csv',
      '--key-field',
      'user',
      '--timestamp-field',
      'time',
      '--value-schema',
      'PageView',
      '--partitions',
      '1',
    ]);
    expect(produce.code, produce.out).toBe(0);
    expect(produce.out).toContain('produced 8 records to page-views');
    const ran = run([EDDY, 'run', 'page-stats', '--until-idle']);
    expect(ran.code, ran.out).toBe(0);
    expect(ran.out).toContain('page-stats.v1: processed 8 input records');
    expect(ran.out).toContain('page-minutes.v1: 4');
    const inspect = run([EDDY, 'inspect', 'page_minutes', '--format', 'jsonl']);
    expect(inspect.code, inspect.out).toBe(0);
    const rows = inspect.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { page: string; window_start: string; views: number });
    // independent count of the CSV: views per page and minute
    const csv = readFileSync(join(project, 'data', 'page-views.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    const want = new Map<string, number>();
    for (const line of csv) {
      const [, page, time] = line.split(',');
      const minute = new Date(Math.floor(Date.parse(time) / 60_000) * 60_000).toISOString();
      want.set(`${page} ${minute}`, (want.get(`${page} ${minute}`) ?? 0) + 1);
    }
    expect(new Map(rows.map((r) => [`${r.page} ${r.window_start}`, r.views]))).toEqual(want);
  });

  it("a project's own config hides eddy's example topology; eddy demo still has it", () => {
    const r = run([EDDY, 'versions', 'flight-delays']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('Unknown topology "flight-delays". Known topologies: page-stats.');
    expect(r.out).toContain('through `eddy demo`');
  });

  it('refuses a directory that is not empty, and a bad topology name, writing nothing', () => {
    const full = join(base, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'keep.txt'), 'mine');
    const r = run([EDDY, 'init', full], base);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('is not empty');
    const bad = run([EDDY, 'init', join(base, 'bad'), '--name', 'no spaces allowed'], base);
    expect(bad.code).not.toBe(0);
    expect(existsSync(join(base, 'bad'))).toBe(false);
  });
});
