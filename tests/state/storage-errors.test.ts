import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError, storageErrorOf } from '../../src/errors.js';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import { SqliteKeyValueStore } from '../../src/state/kv-store.js';

describe('storageErrorOf', () => {
  it('names the file, what it is and the fix for errno and SQLite codes; other errors pass', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const e = storageErrorOf(enospc, 'state store "s" of task 0_1', '/data/state/s.sqlite');
    expect(e).toBeInstanceOf(StorageError);
    expect(e?.code).toBe('STORAGE_FULL');
    expect(e?.message).toMatch(
      /^state store "s" of task 0_1: no space left on the device \(ENOSPC\): \/data\/state\/s\.sqlite\. Fix: free space/,
    );
    const eacces = Object.assign(new Error('EACCES: permission denied, open'), {
      code: 'EACCES',
      path: '/ro/x.sqlite',
    });
    const a = storageErrorOf(eacces, 'the embedded log', '/elsewhere');
    expect(a?.code).toBe('STORAGE_ERROR');
    expect(a?.message).toMatch(
      /^the embedded log: permission denied \(EACCES\): \/ro\/x\.sqlite\. Fix: check the file/,
    );
    const ro = Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY_DBMOVED' });
    expect(storageErrorOf(ro, 'the embedded log', '/d/log.db')?.message).toContain(
      'the file is read-only (SQLITE_READONLY_DBMOVED: attempt to write a readonly database): /d/log.db',
    );
    expect(storageErrorOf(new Error('boom'), 'x', '/p')).toBeUndefined();
    expect(storageErrorOf(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }), 'x', '/p')).toBeUndefined();
  });
});

/**
 * A real full disk: a 1 MiB tmpfs mounted for this file (the tests run as root in CI). Where `mount` is not allowed
 * (an unprivileged container) these tests cannot make a full disk and are not run: the reason is printed.
 */
function mountTmpfs(dir: string, size: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `mount -t tmpfs is not allowed here (${(err as Error).message.split('\n')[0]})`;
  }
}

const root = mkdtempSync(join(tmpdir(), 'eddy-full-'));
const probe = join(root, 'probe');
mkdirSync(probe);
const cannotMount = mountTmpfs(probe, '64k');
if (cannotMount === undefined) execFileSync('umount', [probe]);
else process.stderr.write(`storage-errors: full-disk tests not run: ${cannotMount}\n`);

describe.runIf(cannotMount === undefined)('on a full disk (1 MiB tmpfs)', () => {
  let disk: string;
  let n = 0;
  beforeEach(() => {
    disk = join(root, `disk-${n++}`);
    mkdirSync(disk);
    mountTmpfs(disk, '1m');
    // leave about 200 KiB free
    writeFileSync(join(disk, 'filler'), Buffer.alloc(820 * 1024));
  });
  afterEach(() => {
    execFileSync('umount', [disk]);
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('a state store fails with STORAGE_FULL naming the store, task and file; what it committed stays readable', () => {
    const path = join(disk, 'route_stats.sqlite');
    const s = new SqliteKeyValueStore('route_stats', path, { task: '1_0' });
    s.apply([{ key: Buffer.from('a'), value: Buffer.from('1') }], 1);
    let err: unknown;
    try {
      for (let i = 0; i < 10_000; i++)
        s.apply([{ key: Buffer.from(`k${i}`), value: Buffer.alloc(4096, i % 251) }], i + 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('STORAGE_FULL');
    expect((err as Error).message).toContain(`state store "route_stats" of task 1_0: no space left on the device`);
    expect((err as Error).message).toContain(path);
    const checkpoint = s.checkpoint();
    expect(s.get(Buffer.from('a'))?.toString()).toBe('1');
    // every applied change up to the checkpoint is there; nothing of the failed apply
    expect(s.count()).toBe(checkpoint);
    s.close();
  });

  it('the embedded log fails with STORAGE_FULL naming its file, and keeps every record it acknowledged', async () => {
    const path = join(disk, 'log.db');
    const log = EmbeddedLog.open(path);
    await log.createTopics([{ name: 't', partitions: 1 }]);
    const producer = log.producer();
    let acked = 0;
    let err: unknown;
    try {
      for (let i = 0; i < 10_000; i++) {
        await producer.send([{ topic: 't', partition: 0, key: null, value: Buffer.alloc(4096, 7), timestamp: i }]);
        acked++;
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/^the embedded log: no space left on the device \(SQLITE_FULL\): /);
    expect((err as Error).message).toContain(path);
    const range = (await log.offsets('t'))[0];
    expect(range.high).toBe(acked);
    await producer.close();
    await log.close();
  });
});
