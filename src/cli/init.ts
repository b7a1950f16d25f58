/**
 * `eddy init <dir>`: a working project of the user's own, beside (not inside) eddy: `package.json` depending on eddy,
 * `eddy.config.json` naming its one topology, `schemas/` with its Avro schemas, `src/topology.ts` using the types
 * `eddy schemas codegen` generates from them, a vitest test with `TopologyTestDriver` and a golden case, and a CSV to
 * produce. It builds, tests and runs right after `npm install` (README, "Your own pipeline").
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { checkName } from '../topology/names.js';
import { packageRoot } from '../util/paths.js';

/** Options of `eddy init`. */
export interface InitOptions {
  /** Topology name (default: the directory's name, if it is a valid name, else `pipeline`). */
  readonly name?: string;
  /** How `package.json` depends on eddy (default `file:<this eddy package>`, since eddy is not on the npm registry). */
  readonly eddy?: string;
}

const PAGE_VIEW = {
  type: 'record',
  name: 'PageView',
  doc: 'One view of a page by a user.',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'page', type: 'string' },
    { name: 'time', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'When the page was viewed.' },
  ],
};
const VIEWS = {
  type: 'record',
  name: 'Views',
  doc: 'Views of one page in one window.',
  fields: [{ name: 'views', type: 'int' }],
};
const PAGE_MINUTE = {
  type: 'record',
  name: 'PageMinute',
  doc: 'Views of one page in one minute of event time.',
  fields: [
    { name: 'page', type: 'string' },
    { name: 'window_start', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'views', type: 'int' },
  ],
};

const topologyTs = (name: string) => `import { fileURLToPath } from 'node:url';
import { loadSchemas, type Topology, topology, tumbling } from 'eddy';
import type { PageMinute, PageView, Views } from './generated/schemas.js';

// schemas/*.avsc, by record name (this module runs from dist/src/)
const schemas = loadSchemas(fileURLToPath(new URL('../../schemas', import.meta.url)));
const schema = (name: string) => {
  const s = schemas.get(name);
  if (s === undefined) throw new Error(\`schemas/\${name}.avsc is missing\`);
  return s;
};

/** Views per page and minute of event time, through a repartition by page. */
export default function build(): Topology {
  const t = topology({ name: '${name}', version: 1 });
  const out = t.output<string, PageMinute>('page-minutes', { key: 'string', value: schema('PageMinute') });
  t.source<string, PageView>('page-views', { key: 'string', value: schema('PageView'), timestamp: 'time' })
    .validate('known-page', (v) => (v.page.startsWith('/') ? undefined : \`page "\${v.page}" does not start with /\`))
    .groupBy('by_page', (r) => r.value.page, { key: 'string', value: schema('PageView') })
    .windowedBy(tumbling({ sizeMs: 60_000, graceMs: 10_000 }))
    .aggregate<Views>('page_minutes', {
      value: schema('Views'),
      keyName: 'page',
      initializer: () => ({ views: 0 }),
      aggregator: (a) => ({ views: a.views + 1 }),
    })
    .toStream((page, w, a) => ({ key: page, value: { page, window_start: w.startMs, views: a.views } }), 'final')
    .to(out, 'to-page-minutes');
  return t.build();
}
`;

const testTs = `import { fileURLToPath } from 'node:url';
import { goldenTest, TopologyTestDriver } from 'eddy';
import { describe, expect, it } from 'vitest';
import type { PageMinute, PageView } from '../src/generated/schemas.js';
import build from '../src/topology.js';

const view = (user: string, page: string, time: number): PageView => ({ user, page, time });

describe('page views per minute', () => {
  it('counts views per page once each minute closes', async () => {
    const driver = await TopologyTestDriver.create(build());
    await driver.pipeInput('page-views', 'u1', view('u1', '/a', 1_000));
    await driver.pipeInput('page-views', 'u2', view('u2', '/a', 2_000));
    await driver.pipeInput('page-views', 'u2', view('u2', '/b', 3_000));
    expect(driver.readOutput('page-minutes.v1')).toEqual([]); // the minute is still open
    await driver.pipeInput('page-views', 'u1', view('u1', '/a', 70_000)); // closes minute 0 (end + 10 s grace)
    const out = driver.readOutput<string, PageMinute>('page-minutes.v1').map((r) => r.value);
    expect(out).toEqual([
      { page: '/a', window_start: 0, views: 2 },
      { page: '/b', window_start: 0, views: 1 },
    ]);
    await driver.close();
  });

  it('matches the golden case (re-record with EDDY_GOLDEN_RECORD=1, then review the diff)', async () => {
    // tests run from dist/tests/: the case lives in the project's tests/golden/
    await goldenTest(fileURLToPath(new URL('../../tests/golden/minutes', import.meta.url)), { topology: build });
  });
});
`;

const GOLDEN_INPUT = [
  { key: 'u1', value: { user: 'u1', page: '/home', time: 1_000 } },
  { key: 'u2', value: { user: 'u2', page: '/home', time: 30_000 } },
  { key: 'u2', value: { user: 'u2', page: 'nowhere', time: 40_000 } },
  { key: 'u1', value: { user: 'u1', page: '/cart', time: 70_000 } },
]
  .map((l) => JSON.stringify({ ...l, timestamp: l.value.time }))
  .join('\n');

const CSV = [
  'user,page,time',
  'ada,/home,2024-05-01T09:00:05Z',
  'bob,/home,2024-05-01T09:00:20Z',
  'ada,/pricing,2024-05-01T09:00:41Z',
  'cyd,/home,2024-05-01T09:01:02Z',
  'bob,/cart,2024-05-01T09:01:30Z',
  'ada,/cart,2024-05-01T09:01:55Z',
  'cyd,/pricing,2024-05-01T09:02:10Z',
  'bob,/home,2024-05-01T09:03:00Z',
].join('\n');

/** The project's files, path (relative, `/`-separated) -> content. */
export function initFiles(name: string, eddySpec: string): Map<string, string> {
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  const files = new Map<string, string>();
  files.set(
    'package.json',
    json({
      name,
      private: true,
      type: 'module',
      scripts: {
        codegen: 'eddy schemas codegen',
        build: 'eddy schemas codegen && tsc -p tsconfig.json',
        test: 'npm run build && vitest run --dir dist/tests',
        start: `exec eddy worker ${name}`,
      },
      dependencies: { eddy: eddySpec },
      devDependencies: { '@types/node': '20.19.43', typescript: '5.9.3', vitest: '4.1.12' },
    }),
  );
  files.set(
    'tsconfig.json',
    json({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        outDir: 'dist',
        rootDir: '.',
        types: ['node'],
        skipLibCheck: true,
      },
      include: ['src', 'tests'],
    }),
  );
  files.set('eddy.config.json', json({ topologies: { [name]: 'dist/src/topology.js' } }));
  files.set('schemas/PageView.avsc', json(PAGE_VIEW));
  files.set('schemas/Views.avsc', json(VIEWS));
  files.set('schemas/PageMinute.avsc', json(PAGE_MINUTE));
  files.set('src/topology.ts', topologyTs(name));
  files.set('tests/topology.test.ts', testTs);
  files.set(
    'tests/golden/minutes/case.json',
    json({
      description: 'views per page and minute',
      topology: name,
      version: 1,
      inputs: [{ topic: 'page-views', file: 'page-views.jsonl' }],
    }),
  );
  files.set('tests/golden/minutes/page-views.jsonl', `${GOLDEN_INPUT}\n`);
  // what the case gives (recorded with EDDY_GOLDEN_RECORD=1 and reviewed): minute 0 closes at 70 s; minute 1 is open
  files.set(
    'tests/golden/minutes/expected/page-minutes.v1.jsonl',
    '{"partition":0,"source":"page-views/0/3","value":{"page":"/home","window_start":0,"views":2}}\n',
  );
  files.set(
    `tests/golden/minutes/expected/${name}.v1.dlq.jsonl`,
    '{"partition":0,"source":"page-views/0/2","processor":"known-page","reason":"page \\"nowhere\\" does not start with /","valueHex":"00000000020475320e6e6f776865726580f104"}\n',
  );
  files.set(
    'tests/golden/minutes/expected/stores/page_minutes.jsonl',
    [
      '{"page":"/cart","window_start":"1970-01-01T00:01:00.000Z","window_end":"1970-01-01T00:02:00.000Z","views":1}',
      '{"page":"/home","window_start":"1970-01-01T00:00:00.000Z","window_end":"1970-01-01T00:01:00.000Z","views":2}',
      '',
    ].join('\n'),
  );
  files.set('data/page-views.csv', `${CSV}\n`);
  files.set('.gitignore', 'node_modules/\ndist/\n.eddy/\n');
  files.set(
    'README.md',
    `# ${name}

A stream processing pipeline on [eddy](${eddySpec}): views per page and minute of event time.

\`\`\`sh
npm install
npm test                                   # codegen, tsc, vitest (TopologyTestDriver and a golden case)
npx eddy produce page-views --file data/page-views.csv --key-field user --timestamp-field time --value-schema PageView --partitions 1
npx eddy run ${name} --until-idle          # the embedded log in .eddy/; set "backend": "kafka" in eddy.config.json for Kafka
npx eddy inspect page_minutes              # the store; npx eddy tail page-minutes.v1 --from-beginning for the output
\`\`\`

- \`schemas/*.avsc\`: the Avro schemas; \`npm run codegen\` writes their TypeScript types to \`src/generated/\`.
- \`src/topology.ts\`: the topology; \`eddy.config.json\` registers its compiled module (\`dist/src/topology.js\`).
- \`tests/\`: unit tests with \`TopologyTestDriver\` and golden cases (\`tests/golden/<case>/\`: inputs and expected
  outputs; after an intended change, re-record with \`EDDY_GOLDEN_RECORD=1 npm test\` and review the diff).
- \`npm start\` runs the topology as a service (\`eddy worker\`), with \`exec\` so signals reach it.
`,
  );
  return files;
}

/**
 * Writes a new project into `dir` (created if missing). Refuses, before writing anything, a directory that holds
 * files, and a topology name that is not valid (`checkName`). Returns the files written (absolute paths).
 */
export function initProject(dir: string, o: InitOptions = {}): string[] {
  const root = resolve(dir);
  if (existsSync(root) && readdirSync(root).length > 0)
    throw new ConfigError(`${root} is not empty: eddy init writes a new project into an empty or new directory`, {
      path: root,
    });
  const fromDir = basename(root)
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-');
  const name = checkName('topology name', o.name ?? (/^[a-z0-9]/.test(fromDir) ? fromDir : 'pipeline'));
  const eddySpec = o.eddy ?? `file:${packageRoot(import.meta.url)}`;
  const written: string[] = [];
  for (const [rel, content] of initFiles(name, eddySpec)) {
    const path = join(root, ...rel.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    written.push(path);
  }
  return written;
}
