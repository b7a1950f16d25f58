/**
 * `eddy produce`, `eddy tail` and `eddy dlq` as a user runs them (the built CLI in child processes), on one backend:
 * the embedded log (tests/tools/data-cli.test.ts) or a real Kafka broker and registry
 * (tests/tools/data-cli.kafka.test.ts). Topic and topology names carry a unique namespace (one broker is shared).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/log/partitioner.js';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';

export interface DataBackend {
  readonly name: string;
  /** Environment of the `eddy` processes (besides EDDY_DATA_DIR). */
  env(): Record<string, string>;
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** A topology that dead-letters flights delayed more than MAX_DELAY minutes (default 100): the "bug" to fix. */
const MODULE = (ns: string) => `
import { loadSchemas, topology } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
const s = loadSchemas(${JSON.stringify(join(ROOT, 'schemas'))});
export default () => {
  const max = Number(process.env.MAX_DELAY ?? 100);
  const t = topology({ name: '${ns}-checks', version: 1 });
  const flights = t.source('${ns}-flights', { key: 'string', value: s.get('Flight') });
  const ok = t.output('${ns}-ok', { key: 'string', value: s.get('Flight') });
  flights.validate('check_delay', (f) => (f.delay > max ? 'delay ' + f.delay + ' over ' + max : undefined)).to(ok);
  return t.build();
};
`;

type Row = {
  partition: number;
  offset: number;
  timestamp: string;
  key: unknown;
  value: Record<string, unknown>;
  headers: Record<string, string>;
};

const jsonl = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

/** 20 flights: delay 0, 10, ..., 190 (9 over 100); origins cycle through 5 airports. */
function flightsCsv(): string {
  const airports = ['SFO', 'LAX', 'JFK', 'ORD', 'SEA'];
  const lines = ['date,delay,distance,origin,destination'];
  for (let i = 0; i < 20; i++)
    lines.push(
      `2001-01-0${1 + (i % 5)}T0${i % 10}:00:00Z,${i * 10},${100 + i},${airports[i % 5]},${airports[(i + 1) % 5]}`,
    );
  return `${lines.join('\n')}\n`;
}

export function dataCliSuite(backend: DataBackend): void {
  describe(`eddy produce, tail, dlq (${backend.name})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-data-cli-'));
    const ns = `d${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const flights = `${ns}-flights`;
    const dlqTopic = `${ns}-checks.v1.dlq`;
    let env: Record<string, string>;

    const eddy = (args: string[], extra: Record<string, string> = {}, input?: string): Ran => {
      const r = spawnSync(process.execPath, [CLI, ...args], {
        cwd: dir,
        env: cleanEnv({ ...env, ...extra }),
        encoding: 'utf8',
        input,
        timeout: 180_000,
      });
      return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
    };
    const ok = (args: string[], extra: Record<string, string> = {}, input?: string): string => {
      const r = eddy(args, extra, input);
      expect(r.err, `eddy ${args.join(' ')}`).toBe('');
      expect(r.code, `eddy ${args.join(' ')}`).toBe(0);
      return r.out;
    };
    const all = (topic: string): Row[] => jsonl<Row>(ok(['tail', topic, '--from-beginning', '--format', 'jsonl']));

    beforeAll(() => {
      env = { ...backend.env(), EDDY_DATA_DIR: join(dir, 'data') };
      writeFileSync(join(dir, 'checks.mjs'), MODULE(ns));
      writeFileSync(join(dir, 'eddy.config.json'), JSON.stringify({ topologies: { checks: './checks.mjs' } }));
      writeFileSync(join(dir, 'flights.csv'), flightsCsv());
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('produces CSV partitioned like eddy and tails it back decoded, from the beginning, an offset and a time', () => {
      const produced = eddy([
        'produce',
        flights,
        '--file',
        'flights.csv',
        '--key-field',
        'origin',
        '--timestamp-field',
        'date',
        '--value-schema',
        'Flight',
        '--partitions',
        '3',
      ]);
      expect(produced.code, produced.err).toBe(0);
      // these dates cycle through five days: event time goes backwards within partitions, and produce says so first
      expect(produced.err).toMatch(
        /^eddy: warning: flights\.csv: event time \(date\) goes backwards for \d+ of 20 records/,
      );
      const out = produced.out;
      expect(out).toMatch(new RegExp(`^produced 20 records to ${flights} \\(created, 3 partitions: \\d+ \\d+ \\d+\\)`));
      expect(out).toContain(`${flights}-value id`);
      const rows = all(flights);
      expect(rows).toHaveLength(20);
      for (const r of rows) {
        expect(r.value.origin).toBe(r.key);
        expect(r.timestamp).toBe(new Date(r.value.date as number).toISOString());
      }
      const sorted = [...rows].sort((a, b) => (a.value.delay as number) - (b.value.delay as number));
      expect(sorted.map((r) => r.value.delay)).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
      expect(sorted[3].value).toEqual({
        date: Date.parse('2001-01-04T03:00:00Z'),
        delay: 30,
        distance: 103,
        origin: 'ORD',
        destination: 'SEA',
      });
      // every key is in one partition, and the default start shows the last 10 of each partition
      const partitionOf = new Map<unknown, number>();
      for (const r of rows) {
        expect(partitionOf.get(r.key) ?? r.partition).toBe(r.partition);
        partitionOf.set(r.key, r.partition);
      }
      const last = jsonl<Row>(ok(['tail', flights, '--format', 'jsonl']));
      const perPartition = [0, 1, 2].map((p) => rows.filter((r) => r.partition === p).length);
      expect(last).toHaveLength(perPartition.reduce((n, c) => n + Math.min(10, c), 0));
      const first = rows[0];
      const at = jsonl<Row>(
        ok(['tail', flights, '--offset', `${first.partition}:1`, '--limit', '2', '--format', 'jsonl']),
      );
      expect(at.map((r) => [r.partition, r.offset])).toEqual([
        [first.partition, 1],
        [first.partition, 2],
      ]);
      // --from: each partition from its first record at or after the time (offsets, as Kafka's ListOffsets)
      const t = Date.parse('2001-01-05T00:00:00Z');
      const late = jsonl<Row>(ok(['tail', flights, '--from', '2001-01-05T00:00:00Z', '--format', 'jsonl']));
      for (const p of [0, 1, 2]) {
        const inP = rows.filter((r) => r.partition === p);
        const firstAt = inP.findIndex((r) => Date.parse(r.timestamp) >= t);
        expect(late.filter((r) => r.partition === p).map((r) => r.offset)).toEqual(
          firstAt < 0 ? [] : inP.slice(firstAt).map((r) => r.offset),
        );
      }
      expect(late.length).toBeGreaterThanOrEqual(4);
      const table = ok(['tail', flights, '--limit', '3']);
      expect(table).toMatch(/partition.*offset.*timestamp.*key.*value.*headers/);
    });

    it('places keys with partitionFor over the serialized key (as the example loader does)', () => {
      const rows = all(flights);
      // the key schema id is the one registered under <topic>-key; rebuild the wire bytes with it
      const ids = jsonl<{ subject: string; versions: string }>(ok(['schemas', 'list', '--format', 'jsonl']));
      expect(ids.some((s) => s.subject === `${flights}-key`)).toBe(true);
      const shown = ok(['schemas', 'show', `${flights}-key`, '--format', 'jsonl']);
      const id = (jsonl<{ id: number }>(shown)[0] as { id: number }).id;
      for (const r of rows) {
        const k = Buffer.from(r.key as string);
        const wire = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), Buffer.from([k.length * 2]), k]);
        wire.writeInt32BE(id, 1);
        expect(r.partition).toBe(partitionFor(wire, 3));
      }
    });

    it('a bad row stops produce with nothing written, naming the row and the field', () => {
      const before = all(flights).length;
      const bad = `${flightsCsv().trimEnd()}\n2001-01-09T00:00:00Z,late,100,SFO,LAX\n`;
      const r = eddy(
        ['produce', flights, '--format', 'csv', '--key-field', 'origin', '--timestamp-field', 'date'],
        {},
        bad,
      );
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'stdin: row 21 (line 22) does not fit the schema: field "delay" expects int but got "late" (string)',
      );
      expect(all(flights)).toHaveLength(before);
      // a new topic is not created either, and JSON lines name the missing field
      const fresh = `${ns}-fresh`;
      const j = eddy(
        ['produce', fresh, '--value-schema', 'Flight', '--key-field', 'origin'],
        {},
        '{"date":1,"delay":1,"distance":2,"origin":"SFO","destination":"LAX"}\n{"date":1,"delay":1,"origin":"SFO","destination":"LAX"}\n',
      );
      expect(j.code).toBe(1);
      expect(j.err).toContain(
        'stdin: row 2 does not fit the schema: field "distance" expects int but got undefined (missing)',
      );
      const topics = jsonl<{ topic: string }>(ok(['topics', '--format', 'jsonl']));
      expect(topics.map((t) => t.topic)).not.toContain(fresh);
      const subjects = jsonl<{ subject: string }>(ok(['schemas', 'list', '--format', 'jsonl']));
      expect(subjects.map((s) => s.subject)).not.toContain(`${fresh}-value`);
    });

    it('tail --follow prints records appended while it runs, until SIGINT', async () => {
      const child = spawn(
        process.execPath,
        [CLI, 'tail', flights, '--from-beginning', '--follow', '--format', 'jsonl', '--limit', '1000'],
        {
          cwd: dir,
          env: cleanEnv(env),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        await until(() => jsonl<Row>(out).length >= 20);
        ok(
          ['produce', flights, '--format', 'json', '--key-field', 'origin'],
          {},
          JSON.stringify([{ date: '2001-02-01T00:00:00Z', delay: 7, distance: 1, origin: 'BOS', destination: 'SFO' }]),
        );
        await until(() => jsonl<Row>(out).some((r) => r.key === 'BOS'));
        child.kill('SIGINT');
        expect(await exit).toBe(0);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('dlq summary and show after a run; redrive interrupted mid-way and run twice re-drives each dead letter once', async () => {
      ok(['run', 'checks', '--until-idle', '--no-progress']);
      const summary = jsonl<{ reason: string; processor: string; source_topic: string; count: number }>(
        ok(['dlq', 'checks', 'summary', '--format', 'jsonl']),
      );
      expect(summary.map((s) => [s.reason, s.processor, s.source_topic, s.count])).toEqual([
        ['delay N over N', 'check_delay', flights, 9],
      ]);
      const shown = jsonl<{ dead_letter: string; reason: string; source: string; value: { delay: number } }>(
        ok(['dlq', 'checks', 'show', '--format', 'jsonl']),
      );
      expect(shown.map((s) => s.value.delay).sort((a, b) => a - b)).toEqual([
        110, 120, 130, 140, 150, 160, 170, 180, 190,
      ]);
      for (const s of shown) {
        expect(s.reason).toBe(`delay ${s.value.delay} over 100`);
        expect(s.source).toMatch(new RegExp(`^${flights}:\\d:\\d+$`));
      }
      const only = jsonl(ok(['dlq', 'checks', 'show', '--reason', 'delay 150 over 100', '--format', 'jsonl']));
      expect(only).toHaveLength(1);
      expect(jsonl(ok(['dlq', 'checks', 'show', '--reason', 'delay N over N', '--format', 'jsonl']))).toHaveLength(9);
      expect(jsonl(ok(['tail', '--dlq', 'checks', '--from-beginning', '--format', 'jsonl']))).toHaveLength(9);

      const sourceCount = all(flights).length;
      const dry = ok(['dlq', 'checks', 'redrive']);
      expect(dry).toContain(`would re-drive 9 dead letter(s) of ${dlqTopic}; 0 already re-driven, 0 refused`);
      expect(all(flights)).toHaveLength(sourceCount);

      // killed inside the third transaction (2 dead letters each), after sending and before committing
      const killed = eddy(['dlq', 'checks', 'redrive', '--yes', '--batch-records', '2'], {
        EDDY_FAULT_REDRIVE_KILL_BEFORE_COMMIT: '2',
      });
      expect(killed.signal).toBe('SIGKILL');
      const redriven = () => all(flights).filter((r) => r.headers['eddy.redrive.of'] !== undefined);
      expect(redriven()).toHaveLength(4);
      const again = ok(['dlq', 'checks', 'redrive', '--yes', '--batch-records', '2']);
      expect(again).toContain('re-drove 5 dead letter(s)');
      expect(again).toContain('4 already re-driven, 0 refused');
      const third = ok(['dlq', 'checks', 'redrive', '--yes']);
      expect(third).toContain('re-drove 0 dead letter(s)');
      expect(third).toContain('9 already re-driven');

      const back = redriven();
      expect(back.map((r) => r.headers['eddy.redrive.of']).sort()).toEqual(shown.map((s) => s.dead_letter).sort());
      for (const r of back) {
        const dl = shown.find((s) => s.dead_letter === r.headers['eddy.redrive.of'])!;
        expect(r.value).toEqual(dl.value);
        expect(`${flights}:${r.partition}`).toBe(dl.source.replace(/:\d+$/, ''));
      }

      // after the fix, the re-driven records flow through to the output
      const passed = all(flights).filter(
        (r) => r.headers['eddy.redrive.of'] === undefined && (r.value.delay as number) <= 100,
      );
      expect(all(`${ns}-ok.v1`)).toHaveLength(passed.length);
      ok(['run', 'checks', '--until-idle', '--no-progress'], { MAX_DELAY: '1000' });
      expect(all(`${ns}-ok.v1`)).toHaveLength(passed.length + 9);
      expect(jsonl(ok(['dlq', 'checks', 'show', '--format', 'jsonl']))).toHaveLength(9);
    });
  });
}

async function until(pred: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
