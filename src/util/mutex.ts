/** A promise-chain mutex: `run` calls execute one at a time, in call order; `busy` while one runs or waits. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  get busy(): boolean {
    return this.held > 0;
  }

  /** Runs `fn` after all earlier holders; resolves or rejects with `fn`'s result (a rejection does not block others). */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    this.held++;
    const result = this.tail.then(fn);
    const release = () => {
      this.held--;
    };
    this.tail = result.then(release, release);
    return result;
  }
}
