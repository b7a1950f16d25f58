/**
 * The README's CLI reference (the table in section "CLI") against the built CLI's `--help`: every command is in the
 * table, and every option a command has is in its row(s), and no row names an option the command does not have.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';

/** The options (`--name`) a text names. */
const optionsIn = (text: string) => new Set([...text.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]));

function help(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args, '--help'], { env: cleanEnv(), encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** The options of `eddy <command>` as its help lists them (without --help). */
function helpOptions(command: string): Set<string> {
  const out = help([command]);
  const options = out.slice(out.indexOf('Options:'), out.includes('Commands:') ? out.indexOf('Commands:') : undefined);
  const names = [...options.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]);
  return new Set(names.filter((n) => n !== '--help'));
}

/** Command → the options its rows of the README's CLI table name. */
function readmeRows(): Map<string, Set<string>> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## CLI\n'), readme.indexOf('\n## Changing the code\n'));
  const rows = new Map<string, Set<string>>();
  for (const m of section.matchAll(/^\| `eddy ([a-z]+)([^`]*)` \|/gm)) {
    const seen = rows.get(m[1]) ?? new Set<string>();
    for (const o of optionsIn(m[2])) seen.add(o);
    rows.set(m[1], seen);
  }
  return rows;
}

describe('README CLI reference', () => {
  const rows = readmeRows();

  it('lists every command', () => {
    const top = help([]);
    const commands = [...top.slice(top.indexOf('Commands:')).matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]);
    expect(commands.length).toBeGreaterThan(10);
    expect(commands.filter((c) => c !== 'help' && !rows.has(c))).toEqual([]);
  });

  it("names each command's options, and only those", () => {
    const wrong: string[] = [];
    for (const [command, documented] of rows) {
      const actual = helpOptions(command);
      for (const o of actual) if (!documented.has(o)) wrong.push(`eddy ${command}: ${o} missing from the README`);
      for (const o of documented) if (!actual.has(o)) wrong.push(`eddy ${command}: README names ${o}, not an option`);
    }
    expect(wrong).toEqual([]);
  }, 60_000);
});
