/**
 * `eddy --version`, and the exit code 2 (bad argument or configuration) for an unknown topology or a topology module
 * that cannot be loaded, before anything is opened; `describe --version`: the built CLI in a child process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';

const dir = mkdtempSync(join(tmpdir(), 'eddy-cli-basics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function eddy(args: string[], cwd = dir): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('eddy CLI basics', () => {
  it('--version prints the version in package.json', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = eddy([flag]);
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe(version);
    }
    // a subcommand's --version <n> is the topology version, not eddy's
    const sub = eddy(
      ['inspect', 'no_such_store', '--topology', 'flight-delays', '--version', '1'],
      mkdtempSync(join(dir, 'v-')),
    );
    expect(sub.out).toBe('');
    expect(sub.err).toContain('Unknown state store "no_such_store"');
    expect(sub.code).toBe(1);
  });

  it('an unknown topology exits 2 naming the known ones, for every command that takes one, opening nothing', () => {
    for (const args of [
      ['run', 'nope', '--until-idle'],
      ['worker', 'nope'],
      ['describe', 'nope'],
      ['versions', 'nope'],
      ['dlq', 'nope', 'summary'],
      ['tail', '--dlq', 'nope'],
      ['inspect', 'some_store', '--topology', 'nope'],
    ]) {
      const r = eddy(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toBe(
        'eddy: Unknown topology "nope". Known topologies: flight-delays. Add yours to eddy.config.json (topologies).\n',
      );
    }
    expect(existsSync(join(dir, '.eddy'))).toBe(false);
  });

  it('a configured topology whose module is missing exits 2 naming the module', () => {
    const cwd = mkdtempSync(join(dir, 'missing-'));
    writeFileSync(join(cwd, 'eddy.config.json'), JSON.stringify({ topologies: { mine: './dist/mine.js' } }));
    const r = eddy(['run', 'mine', '--until-idle'], cwd);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^eddy: topologies\.mine: cannot load \S*dist\/mine\.js: .*Check the path/);
    expect(existsSync(join(cwd, '.eddy'))).toBe(false);
  });

  it('describe shows the highest version in the code, says which others there are, and --version picks one (one not in the code exits 2)', () => {
    const latest = eddy(['describe', 'flight-delays', '--format', 'text']);
    expect(latest.code).toBe(0);
    expect(latest.out).toContain('versions in the code: v1, v2; this is v2');
    expect(latest.out).toContain('Topology: flight-delays v2');
    const v1 = eddy(['describe', 'flight-delays', '--version', '1', '--format', 'text']);
    expect(v1.out).toContain('Topology: flight-delays v1');
    const none = eddy(['describe', 'flight-delays', '--version', '9']);
    expect(none.code).toBe(2);
    expect(none.err).toContain('flight-delays has no version 9 in its code (versions: v1, v2)');
    // a bad --version stops every command before anything is opened or written
    const run = eddy(['run', 'flight-delays', '--version', '9', '--until-idle']);
    expect(run.code).toBe(2);
    expect(run.err).toContain('flight-delays has no version 9 in its code');
    expect(existsSync(join(dir, '.eddy'))).toBe(false);
  });

  it('a bad argument to the data commands exits 2', () => {
    expect(eddy(['dlq', 'flight-delays', 'explode']).code).toBe(2);
    expect(eddy(['tail', 'flights', '--from-beginning', '--offset', '0:1']).code).toBe(2);
    expect(eddy(['produce', 'flights', '--format', 'xml']).code).toBe(2);
  });
});
