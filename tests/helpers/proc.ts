/**
 * Spawning real `eddy` processes in tests: parsed JSON log lines, waiting for a log line, the exit, HTTP GETs,
 * polling. Shared by the worker tests on the embedded log and the Kafka fault tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

export const ROOT = packageRoot(import.meta.url);
/** The built CLI (`npm test` builds first, in `pretest`). */
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

/** A spawned `eddy` process with its parsed JSON log lines. */
export interface Proc {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  stderr(): string;
  waitFor(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/** The environment without eddy/Kafka/registry settings of the machine running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(EDDY_|KAFKA_|SCHEMA_REGISTRY_)/.test(k)),
  );
  return { ...env, ...extra };
}

export function eddy(args: string[], env: Record<string, string> = {}, opts: { cwd?: string } = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(env),
    cwd: opts.cwd,
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ msg: text, unparsed: true });
      }
      for (const w of waiters) w();
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    child.on('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal, atMs: Date.now() });
    }),
  );
  let exited = false;
  void exit.then(() => {
    exited = true;
  });
  return {
    child,
    lines,
    exit,
    stderr: () => err,
    waitFor(pred, timeoutMs = 60_000) {
      return new Promise<LogLine>((resolve, reject) => {
        const check = () => {
          const hit = lines.find(pred);
          if (hit !== undefined) {
            done();
            resolve(hit);
          } else if (exited) {
            done();
            reject(
              new Error(
                `process exited before the expected log line; stderr: ${err}; stdout: ${JSON.stringify(lines)}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`no such log line within ${timeoutMs} ms; stderr: ${err}; stdout: ${JSON.stringify(lines)}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export async function get(port: number, path: string): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

export /** Polls until `fn` returns a value other than undefined. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((err) => {
      last = err;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
