/**
 * `npx eddy worker` runs the worker as a child of npm, and npm exits on SIGTERM without passing the signal on: the
 * worker must not go on orphaned. Here a stand-in parent behaves as npm does (spawns the worker with `npm_command`
 * set, exits on SIGTERM without forwarding it); the worker notices its parent gone and shuts down cleanly, exit 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv } from '../helpers/proc.js';

const dir = mkdtempSync(join(tmpdir(), 'eddy-worker-parent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a worker started by npm', () => {
  it('shuts down cleanly when its parent exits on SIGTERM without passing it on', async () => {
    const env = cleanEnv({ EDDY_DATA_DIR: join(dir, '.eddy'), EDDY_HTTP_PORT: '0' });
    const load = spawnSync(process.execPath, [CLI, 'load', '--limit', '200', '--no-progress'], { env, cwd: dir });
    expect(load.status, String(load.stderr)).toBe(0);
    const logPath = join(dir, 'worker.log');
    // the stand-in for npm: spawns the worker, prints its pid, exits on SIGTERM (as npm exec does)
    const parentCode = `
      const { spawn } = require('node:child_process');
      const out = require('node:fs').openSync(${JSON.stringify(logPath)}, 'w');
      const w = spawn(process.execPath, ${JSON.stringify([CLI, 'worker', 'flight-delays'])},
        { stdio: ['ignore', out, out], env: { ...process.env, npm_command: 'exec' } });
      console.log(w.pid);
      process.on('SIGTERM', () => process.exit(143));
    `;
    const parent = spawn(process.execPath, ['-e', parentCode], { env, cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    const workerPid = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    await until(
      () => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('"event":"ready"'),
      'the worker to be ready',
    );
    parent.kill('SIGTERM');
    await until(() => !alive(workerPid), 'the worker to exit');
    const lines = readFileSync(logPath, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event?: string; exitCode?: number });
    expect(lines.some((l) => l.event === 'parent-exited')).toBe(true);
    expect(lines.find((l) => l.event === 'stopped')?.exitCode).toBe(0);
  }, 120_000);
});
