import type { KeyValueStore, WindowStore } from '../state/stores.js';
import type { TestKeyValueStore, TestWindowStore } from './types.js';

/** One task's copy of a store, with the partition it holds. */
export interface PartitionStore<S> {
  readonly partition: number;
  readonly store: S;
}

/** Read access to a key-value store over its tasks (a key lives in one partition; `get` asks each in turn). */
export function kvStoreView<K, V>(stores: readonly PartitionStore<KeyValueStore<K, V>>[]): TestKeyValueStore<K, V> {
  return {
    get: (key) => {
      for (const { store } of stores) {
        const v = store.get(key);
        if (v !== undefined) return v;
      }
      return undefined;
    },
    all: () => stores.flatMap(({ partition, store }) => [...store.entries()].map((e) => ({ ...e, partition }))),
    count: () => stores.reduce((n, s) => n + s.store.count(), 0),
  };
}

/**
 * Read access to a window store over its tasks; `endOf(windowStartMs, value)` gives a window's end (a fixed size, or
 * a session's end from its value: `windowEndMs` of src/topology/graph.ts).
 */
export function windowStoreView<K, V>(
  stores: readonly PartitionStore<WindowStore<K, V>>[],
  endOf: (windowStartMs: number, value: V) => number,
): TestWindowStore<K, V> {
  return {
    get: (key, windowStartMs) => {
      for (const { store } of stores) {
        const v = store.get(key, windowStartMs);
        if (v !== undefined) return v;
      }
      return undefined;
    },
    all: () =>
      stores.flatMap(({ partition, store }) =>
        [...store.entries()].map((e) => ({ ...e, windowEndMs: endOf(e.windowStartMs, e.value), partition })),
      ),
    count: () => stores.reduce((n, s) => n + s.store.count(), 0),
  };
}
