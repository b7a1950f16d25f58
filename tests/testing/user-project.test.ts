/**
 * A user project outside this repository: a temporary folder with its own package.json depending on eddy by path
 * (`file:`; node_modules/eddy is a symlink to this package, as `npm install` makes for a `file:` directory, and
 * @types comes from this repository's node_modules: no network). It compiles a topology and a test with `tsc`
 * against eddy's published declarations (dist/, built by `npm test`'s pretest or `npx tsc -p tsconfig.json`) and
 * runs it with the test driver and a golden fixture, using only the package's public exports. A deep import of an
 * internal module is refused (package.json `exports`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
let project: string;

const TOPOLOGY = `import { topology, tumbling, type Topology } from 'eddy';

export interface Click { user: string; page: string; }
export interface PageCount { page: string; window_start: number; clicks: number; }

const CLICK = { type: 'record', name: 'Click', fields: [{ name: 'user', type: 'string' }, { name: 'page', type: 'string' }] };
const COUNT = { type: 'record', name: 'Count', fields: [{ name: 'clicks', type: 'int' }] };
const PAGE_COUNT = { type: 'record', name: 'PageCount', fields: [
  { name: 'page', type: 'string' }, { name: 'window_start', type: 'long' }, { name: 'clicks', type: 'int' }] };

/** Clicks per page and minute, through a repartition by page. */
export default function build(): Topology {
  const t = topology({ name: 'clicks', version: 1 });
  const out = t.output<string, PageCount>('page-minutes', { key: 'string', value: PAGE_COUNT });
  t.source<string, Click>('clicks', { key: 'string', value: CLICK })
    .filter((c) => c.page !== '', 'non-empty')
    .groupBy('by_page', (r) => r.value.page, { key: 'string', value: CLICK })
    .windowedBy(tumbling({ sizeMs: 60_000 }))
    .aggregate<{ clicks: number }>('page_minutes', { value: COUNT, keyName: 'page',
      initializer: () => ({ clicks: 0 }), aggregator: (a) => ({ clicks: a.clicks + 1 }) })
    .toStream((page, w, a) => ({ key: page, value: { page, window_start: w.startMs, clicks: a.clicks } }), 'final')
    .to(out, 'to-page-minutes');
  return t.build();
}
`;

const MAIN = `import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { goldenTest, SerdeError, TopologyTestDriver, type TestOutputRecord } from 'eddy';
import build, { type Click, type PageCount } from './topology.js';

const driver = await TopologyTestDriver.create(build(), { partitions: { clicks: 2 } });
await driver.pipeInputs([
  { topic: 'clicks', key: 'u1', value: { user: 'u1', page: '/a' } satisfies Click, timestampMs: 1_000 },
  { topic: 'clicks', key: 'u2', value: { user: 'u2', page: '/a' } satisfies Click, timestampMs: 2_000 },
  { topic: 'clicks', key: 'u2', value: { user: 'u2', page: '/b' } satisfies Click, timestampMs: 3_000 },
]);
await driver.pipeInput<string, Click>('clicks', 'u1', { user: 'u1', page: '/a' }, 61_000);
await driver.pipeInput<string, Click>('clicks', 'u2', { user: 'u2', page: '/b' }, 62_000);
const out: TestOutputRecord<string, PageCount>[] = driver.readOutput<string, PageCount>('page-minutes.v1');
let refused = '';
try {
  await driver.pipeInput('clicks', 'u3', { user: 'u3' });
} catch (err) {
  refused = err instanceof SerdeError ? err.code : String(err);
}
const store = driver.windowStore<string, { clicks: number }>('page_minutes').get('/a', 60_000);
await driver.close();

const dir = join(process.cwd(), 'golden', 'case1');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'case.json'), JSON.stringify({ inputs: [{ topic: 'clicks', file: 'clicks.jsonl' }] }));
writeFileSync(join(dir, 'clicks.jsonl'), ['{"key":"u1","value":{"user":"u1","page":"/x"},"timestamp":5}',
  '{"key":"u1","value":{"user":"u1","page":"/x"},"timestamp":70000}'].join('\\n'));
await goldenTest(dir, { topology: build, record: true });
await goldenTest(dir, { topology: build });

console.log(JSON.stringify({ out: out.map((o) => o.value), refused, store }));
`;

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'testing', 'index.js')))
    throw new Error(`eddy is not built: run \`npx tsc -p tsconfig.json\` in ${ROOT} first (npm test does it)`);
  project = mkdtempSync(join(tmpdir(), 'eddy-user-project-'));
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'eddy-user-project',
      private: true,
      type: 'module',
      dependencies: { eddy: `file:${ROOT}` },
    }),
  );
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    outDir: 'out',
    rootDir: 'src',
    types: ['node'],
    skipLibCheck: true,
  };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['src'] }));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(ROOT, join(project, 'node_modules', 'eddy'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types'), join(project, 'node_modules', '@types'), 'dir');
  mkdirSync(join(project, 'src'));
  writeFileSync(join(project, 'src', 'topology.ts'), TOPOLOGY);
  writeFileSync(join(project, 'src', 'main.ts'), MAIN);
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

function run(args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(process.execPath, args, { cwd: project, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: `${e.stdout}${e.stderr}` };
  }
}

describe('a user project depending on eddy by path', () => {
  it('compiles with tsc and runs a topology under the test driver and goldenTest, public exports only', () => {
    const built = run([TSC, '-p', 'tsconfig.json']);
    expect(built.out).toBe('');
    expect(built.code).toBe(0);
    const ran = run([join('out', 'main.js')]);
    expect(ran.code, ran.out).toBe(0);
    expect(JSON.parse(ran.out)).toEqual({
      out: [
        { page: '/a', window_start: 0, clicks: 2 },
        { page: '/b', window_start: 0, clicks: 1 },
      ],
      refused: 'SERDE',
      store: { clicks: 1 },
    });
    expect(existsSync(join(project, 'golden', 'case1', 'expected', 'page-minutes.v1.jsonl'))).toBe(true);
  });

  it('cannot import eddy internals (package.json exports)', () => {
    const r = run(['--input-type=module', '-e', "await import('eddy/dist/src/runtime/task.js')"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(
      run(['--input-type=module', '-e', "const m = await import('eddy'); console.log(typeof m.TopologyTestDriver)"])
        .out,
    ).toBe('function\n');
  });
});
