/**
 * `eddy produce` for real files, as a user runs it (the built CLI, embedded log): Parquet input (written here with
 * hyparquet-writer), `--null-values` for a dataset's `NA`, `--compacted` for a table's topic, and the warning, before
 * anything is written, when event time goes backwards within partitions (the late-record trap).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import { CLI, cleanEnv } from '../helpers/proc.js';

const dir = mkdtempSync(join(tmpdir(), 'eddy-produce-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DELAY = {
  type: 'record',
  name: 'Delay',
  fields: [
    { name: 'flight', type: 'string' },
    { name: 'delay', type: ['null', 'int'], default: null },
    { name: 'time', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
};
writeFileSync(join(dir, 'Delay.avsc'), JSON.stringify(DELAY));

function eddy(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: cleanEnv({ EDDY_DATA_DIR: join(dir, '.eddy') }),
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tailValues(topic: string): Record<string, unknown>[] {
  const r = eddy(['tail', topic, '--from-beginning', '--format', 'jsonl']);
  expect(r.code, r.err).toBe(0);
  return r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).value as Record<string, unknown>);
}

describe('eddy produce: files as datasets come', () => {
  it('reads Parquet (typed columns), writing every row', () => {
    const bytes = parquetWriteBuffer({
      columnData: [
        { name: 'flight', data: ['UA1', 'UA2', 'DL3'], type: 'STRING' },
        { name: 'delay', data: [5, null, 17], type: 'INT32' },
        { name: 'time', data: [1_000n, 2_000n, 3_000n], type: 'INT64' },
      ],
    });
    writeFileSync(join(dir, 'delays.parquet'), Buffer.from(bytes));
    const r = eddy([
      'produce',
      'pq-delays',
      '--file',
      'delays.parquet',
      '--value-schema',
      'Delay.avsc',
      '--key-field',
      'flight',
      '--timestamp-field',
      'time',
      '--partitions',
      '1',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('produced 3 records to pq-delays');
    expect(tailValues('pq-delays')).toEqual([
      { flight: 'UA1', delay: 5, time: 1_000 },
      { flight: 'UA2', delay: null, time: 2_000 },
      { flight: 'DL3', delay: 17, time: 3_000 },
    ]);
  });

  it('--null-values NA reads NA in a nullable int column as null; without it the row is refused, nothing written', () => {
    writeFileSync(join(dir, 'na.csv'), 'flight,delay,time\nAA1,12,1000\nAA2,NA,2000\nAA3,,3000\n');
    const refused = eddy(['produce', 'na-delays', '--file', 'na.csv', '--value-schema', 'Delay.avsc']);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('row 2');
    expect(refused.err).toContain('"delay"');
    const ok = eddy([
      'produce',
      'na-delays',
      '--file',
      'na.csv',
      '--value-schema',
      'Delay.avsc',
      '--null-values',
      'NA,""',
      '--timestamp-field',
      'time',
    ]);
    expect(ok.code, ok.err).toBe(0);
    const values = tailValues('na-delays');
    expect(values.map((v) => v.delay)).toEqual([12, null, null]);
  });

  it('--compacted creates the topic compacted, as a table topic is', async () => {
    writeFileSync(join(dir, 'table.csv'), 'flight,delay,time\nAA1,1,1000\n');
    const r = eddy(['produce', 'tbl', '--file', 'table.csv', '--value-schema', 'Delay.avsc', '--compacted']);
    expect(r.code, r.err).toBe(0);
    const log = EmbeddedLog.open(join(dir, '.eddy', 'log.db'));
    try {
      const t = await log.describeTopic('tbl');
      expect(t?.compacted).toBe(true);
      expect((await log.describeTopic('na-delays'))?.compacted).toBe(false);
    } finally {
      await log.close();
    }
  });

  it('warns before writing when event time goes backwards for more than 1 % of a partition (sorted as text)', () => {
    // months sorted as text: 10, 11, 12, 2, 3... (the trap seen on a real dataset)
    const rows = ['flight,delay,time'];
    for (const m of [1, 10, 11, 12, 2, 3, 4, 5, 6, 7, 8, 9])
      rows.push(`F${m},1,2013-${String(m).padStart(2, '0')}-01T00:00:00Z`);
    rows.sort((a, b) => (a.startsWith('flight') ? -1 : b.startsWith('flight') ? 1 : a.localeCompare(b)));
    writeFileSync(join(dir, 'by-text.csv'), `${rows.join('\n')}\n`);
    const r = eddy([
      'produce',
      'text-sorted',
      '--file',
      'by-text.csv',
      '--value-schema',
      'Delay.avsc',
      '--timestamp-field',
      'time',
      '--partitions',
      '1',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/warning: by-text\.csv: event time \(time\) goes backwards for \d+ of 12 records/);
    expect(r.err).toContain('Sort the input by time');
    // a warning, not a refusal: the records are written (produce computes it from the placed rows before its appends)
    expect(r.out).toContain('produced 12 records');
    const sorted = eddy([
      'produce',
      'time-sorted',
      '--file',
      'na.csv',
      '--value-schema',
      'Delay.avsc',
      '--null-values',
      'NA,""',
      '--timestamp-field',
      'time',
    ]);
    expect(sorted.code, sorted.err).toBe(0);
    expect(sorted.err).not.toContain('goes backwards');
  });
});
