/** Shared by the state and processor unit tests: a JSON serde and temporary directories. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Serde } from '../../src/state/stores.js';

/** A JSON serde: stores take any `Serde<T>`, so the unit tests need no schema registry. */
export function jsonSerde<T>(): Serde<T> {
  return {
    serialize: (v: T) => Buffer.from(JSON.stringify(v)),
    deserialize: (b: Buffer) => JSON.parse(b.toString()) as T,
  };
}

/** JSON bytes of `v` (what `jsonSerde` writes), for asserting changelog entries exactly. */
export function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = 'eddy-state-'): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, file: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A byte-store row as comparable data: hex key and value (and window start when present). */
export function hexRows(rows: Iterable<{ key: Buffer; value: Buffer; windowStartMs?: number }>): string[] {
  return [...rows].map((r) => `${r.key.toString('hex')}@${r.windowStartMs ?? ''}=${r.value.toString('hex')}`);
}
