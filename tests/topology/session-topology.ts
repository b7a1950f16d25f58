/**
 * Topologies with session and sliding windows, shared by the driver, runtime and fingerprint tests: user activity
 * (key user, value { page }) counted per session (gap 5 min, grace 1 min) and per sliding 10-minute window.
 */
import { type EmitStrategy, sessionWindows, slidingWindows, type Topology, topology } from '../../src/index.js';

export interface Activity {
  page: string;
}
export interface SessionRow {
  user: string;
  start: number;
  end: number;
  events: number;
}

export const ACTIVITY = { type: 'record', name: 'Activity', fields: [{ name: 'page', type: 'string' }] };
export const SESSION_ROW = {
  type: 'record',
  name: 'SessionRow',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'start', type: 'long' },
    { name: 'end', type: 'long' },
    { name: 'events', type: 'long' },
  ],
};
export const MINUTE = 60_000;

/** Session counts to `sessions.v1` and sliding counts to `sliding.v1`; `gapMs`, `graceMs`, `emit`, `timeDifferenceMs` vary. */
export function activityTopology(
  opts: { gapMs?: number; graceMs?: number; emit?: EmitStrategy; timeDifferenceMs?: number; ns?: string } = {},
): Topology {
  // ns: a prefix for the topology, source and output names (tests on the shared broker)
  const ns = opts.ns === undefined ? '' : `${opts.ns}-`;
  const t = topology({ name: `${ns}activity`, version: 1 });
  const emit = opts.emit ?? 'final';
  const sessionsOut = t.output<string, SessionRow | null>(`${ns}sessions`, {
    key: 'string',
    value: emit === 'update' ? ['null', SESSION_ROW] : SESSION_ROW,
  });
  const slidingOut = t.output<string, SessionRow>(`${ns}sliding`, { key: 'string', value: SESSION_ROW });
  const grouped = t.source<string, Activity>(`${ns}activity`, { key: 'string', value: ACTIVITY }).groupByKey({
    key: 'string',
  });
  grouped
    .windowedBy(sessionWindows({ gapMs: opts.gapMs ?? 5 * MINUTE, graceMs: opts.graceMs ?? MINUTE }))
    .count('user_sessions', { keyName: 'user', emit: emit as 'update' })
    .toStream(
      (user, w, n) => ({
        key: user,
        value: n === null ? null : { user, start: w.startMs, end: w.endMs, events: n },
      }),
      'sessions-out',
    )
    .to(sessionsOut, 'to-sessions');
  grouped
    .windowedBy(slidingWindows({ timeDifferenceMs: opts.timeDifferenceMs ?? 10 * MINUTE, graceMs: MINUTE }))
    .count('user_sliding', { keyName: 'user' })
    .toStream(
      (user, w, n) => ({ key: user, value: { user, start: w.startMs, end: w.endMs, events: n } }),
      'sliding-out',
    )
    .to(slidingOut, 'to-sliding');
  return t.build();
}
