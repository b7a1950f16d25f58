/**
 * A store's SQLite file on disk: who it belongs to (its identity), whether it was closed cleanly, whether SQLite can
 * read it, and moving a damaged or foreign file aside (quarantine). The store itself is only a cache of its
 * changelog, so a file that is not exactly the expected, intact store is never read: it is quarantined and the store
 * is rebuilt from the changelog.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { storageErrorOf } from '../errors.js';

/**
 * Who a store file is: written into the file's `meta` table when the store is created, compared on every open.
 * Two tasks' files swapped, a file copied from another topology or version, or a store file of another kind all
 * differ in at least one field.
 */
export interface StoreIdentity {
  readonly topology: string;
  readonly version: number;
  readonly store: string;
  /** The task the file belongs to, e.g. `0_3`. */
  readonly task: string;
  readonly changelog: string;
  /** The changelog partition the store caches (the task's partition). */
  readonly partition: number;
  readonly kind: 'kv' | 'window';
  /** The topology version's fingerprint (see DESIGN.md, Versions); compared only when the expected one has it. */
  readonly fingerprint?: string;
}

const IDENTITY_FIELDS = [
  'topology',
  'version',
  'store',
  'task',
  'changelog',
  'partition',
  'kind',
  'fingerprint',
] as const;
const IDENTITY_PREFIX = 'identity.';

/** `meta` rows (name, value) that record `id` in a store file. */
export function identityRows(id: StoreIdentity): [string, string][] {
  const rows: [string, string][] = [];
  for (const f of IDENTITY_FIELDS) if (id[f] !== undefined) rows.push([`${IDENTITY_PREFIX}${f}`, String(id[f])]);
  return rows;
}

/** The identity fields recorded in a store file's `meta` table (as strings; empty when the file records none). */
export function readIdentity(db: Database.Database): Map<string, string> {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
  const out = new Map<string, string>();
  if (!hasMeta) return out;
  const rows = db.prepare('SELECT name, value FROM meta WHERE name LIKE ?').all(`${IDENTITY_PREFIX}%`) as {
    name: string;
    value: string;
  }[];
  for (const r of rows) out.set(r.name.slice(IDENTITY_PREFIX.length), r.value);
  return out;
}

/** Why a recorded identity is not the expected one (`field is X, expected Y; ...`), or undefined when it is. */
export function identityMismatch(recorded: ReadonlyMap<string, string>, expected: StoreIdentity): string | undefined {
  if (recorded.size === 0) return 'the file records no store identity (not written by this eddy for this store)';
  const diffs: string[] = [];
  for (const f of IDENTITY_FIELDS) {
    const want = expected[f];
    if (f === 'fingerprint' && want === undefined) continue;
    const got = recorded.get(f);
    if (got !== (want === undefined ? undefined : String(want)))
      diffs.push(`${f} is ${got ?? '(none)'}, expected ${want ?? '(none)'}`);
  }
  return diffs.length === 0 ? undefined : `the file belongs to another store: ${diffs.join('; ')}`;
}

/** Sidecar files eddy keeps beside a store file. */
function cleanMarkerPath(path: string): string {
  return `${path}.clean`;
}
/** Written when a store operation hit corruption at run time: the next open quarantines the file. */
export function corruptMarkerPath(path: string): string {
  return `${path}.corrupt`;
}

interface FileStamp {
  ino: string;
  sizeBytes: string;
  mtimeNs: string;
}

function stamp(path: string): FileStamp {
  const st = statSync(path, { bigint: true });
  return { ino: String(st.ino), sizeBytes: String(st.size), mtimeNs: String(st.mtimeNs) };
}

/**
 * Records that the store file at `path` was closed cleanly (call after closing its SQLite handle): a sidecar
 * `<file>.clean` holding the file's inode, size and modification time. Kept outside the file so that any change
 * made to the file after the close (overwritten bytes, truncation, another file moved in its place) makes the
 * marker stale, and the next open checks the file as after a crash.
 */
export function writeCleanMarker(path: string): void {
  if (!existsSync(path)) return;
  try {
    writeFileSync(cleanMarkerPath(path), JSON.stringify(stamp(path)));
  } catch (err) {
    // The marker only spares the next open its quick_check: without it (a full disk, a read-only mount) that open
    // checks the file as after a crash. Never let it hide the error that stopped the run.
    if (storageErrorOf(err, 'the clean-close marker', cleanMarkerPath(path)) === undefined) throw err;
  }
}

/**
 * True when the store file was closed cleanly and not changed since; removes the marker either way (a crash from
 * now on must find none).
 */
export function takeCleanMarker(path: string): boolean {
  const marker = cleanMarkerPath(path);
  if (!existsSync(marker)) return false;
  let clean = false;
  try {
    const recorded = JSON.parse(readFileSync(marker, 'utf8')) as FileStamp;
    const now = existsSync(path) ? stamp(path) : undefined;
    clean =
      now !== undefined &&
      now.ino === recorded.ino &&
      now.sizeBytes === recorded.sizeBytes &&
      now.mtimeNs === recorded.mtimeNs;
  } catch {
    clean = false;
  }
  rmSync(marker, { force: true });
  return clean;
}

/** What an examination of a store file found. */
export type StoreFileState =
  | { readonly state: 'missing' }
  | { readonly state: 'ok' }
  | { readonly state: 'corrupt' | 'mismatch'; readonly reason: string };

const SQLITE_MAGIC = Buffer.from('SQLite format 3\u0000', 'latin1');

/** The SQLite error codes that mean a damaged file (`SQLITE_CORRUPT*`, `SQLITE_NOTADB`). */
export function isCorruptionError(err: unknown): err is Error & { code: string } {
  if (!(err instanceof Database.SqliteError)) return false;
  return err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB';
}

/** Problems visible without SQLite: zero length, a header that is not SQLite's, a size the header contradicts. */
function checkBytes(path: string): string | undefined {
  const sizeBytes = statSync(path).size;
  if (sizeBytes === 0) return 'the file is empty (zero length)';
  const header = Buffer.alloc(100);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (sizeBytes < 100 || !header.subarray(0, 16).equals(SQLITE_MAGIC))
    return `the file is not a SQLite database (garbage header, ${sizeBytes} bytes)`;
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0)
    return `the file's header is damaged (page size ${rawPageSize})`;
  if (sizeBytes % pageSize !== 0)
    return `the file is truncated (${sizeBytes} bytes is not a whole number of ${pageSize}-byte pages)`;
  // The header's page count is valid when its change counter matches "version valid for" (SQLite file format 1.3.x).
  // With no write-ahead log pending (a closed store), the file must hold exactly that many pages.
  const pages = header.readUInt32BE(28);
  const wal = `${path}-wal`;
  const walPending = existsSync(wal) && statSync(wal).size > 0;
  if (!walPending && pages > 0 && header.readUInt32BE(24) === header.readUInt32BE(92) && sizeBytes !== pages * pageSize)
    return `the file is truncated or extended (${sizeBytes} bytes; its header says ${pages} pages of ${pageSize} bytes)`;
  return undefined;
}

/**
 * Examines the store file at `path` before it is opened for use, without writing to it: a runtime corruption marker,
 * zero length, a garbage header, a size its header contradicts, SQLite failing to open or read it, `PRAGMA
 * quick_check` (only when `clean` is false: after a crash, or a change to the file since its clean close), and
 * finally its identity against `expected`.
 */
export function examineStoreFile(path: string, expected: StoreIdentity, clean: boolean): StoreFileState {
  const marker = corruptMarkerPath(path);
  if (existsSync(marker))
    return { state: 'corrupt', reason: `a store operation failed: ${readFileSync(marker, 'utf8').trim()}` };
  if (!existsSync(path)) return { state: 'missing' };
  const bad = checkBytes(path);
  if (bad !== undefined) return { state: 'corrupt', reason: bad };
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    if (!clean) {
      let msgs: string[];
      try {
        msgs = (db.pragma('quick_check(5)', { simple: false }) as { quick_check: string }[]).map((r) => r.quick_check);
      } catch (err) {
        if (!isCorruptionError(err)) throw err;
        msgs = [`${err.message} (${err.code})`];
      }
      if (msgs.length !== 1 || msgs[0] !== 'ok')
        return { state: 'corrupt', reason: `PRAGMA quick_check: ${msgs.join('; ')}` };
    }
    const mismatch = identityMismatch(readIdentity(db), expected);
    return mismatch === undefined ? { state: 'ok' } : { state: 'mismatch', reason: mismatch };
  } catch (err) {
    if (isCorruptionError(err)) return { state: 'corrupt', reason: `SQLite: ${err.message} (${err.code})` };
    throw err;
  } finally {
    db?.close();
  }
}

/** Where quarantined store files go: `<stateDir>/quarantine`. */
export function quarantineDir(stateDir: string): string {
  return join(stateDir, 'quarantine');
}

/**
 * Moves a store file and its `-wal`, `-shm` and `.corrupt` companions to
 * `<stateDir>/quarantine/<ISO time>-<group>-<task>-<store>.sqlite` (the time's `:` written `-`, so the name is valid
 * on every file system; a `-1`, `-2`... suffix if the name is taken). Never deletes the data. Returns the new path.
 */
export function quarantineStoreFile(
  stateDir: string,
  path: string,
  names: { group: string; task: string; store: string },
  now = new Date(),
): string {
  const dir = quarantineDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  const base = `${now.toISOString().replace(/:/g, '-')}-${safe(names.group)}-${safe(names.task)}-${safe(names.store)}`;
  let dest = join(dir, `${base}.sqlite`);
  for (let i = 1; existsSync(dest); i++) dest = join(dir, `${base}-${i}.sqlite`);
  if (existsSync(path)) renameSync(path, dest);
  for (const suffix of ['-wal', '-shm', '.corrupt'])
    if (existsSync(path + suffix)) renameSync(path + suffix, dest + suffix);
  rmSync(cleanMarkerPath(path), { force: true });
  return dest;
}

/** Deletes a store file and its companions (a store that is only out of date, not damaged: rebuilt from scratch). */
export function removeStoreFile(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '.clean', '.corrupt']) rmSync(path + suffix, { force: true });
}
