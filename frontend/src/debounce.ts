export interface Debouncer {
  /** Ask for a call; every request made before it runs shares that one call. */
  schedule(): void;
  /** Run a pending call now (resolves when it has finished); no-op when idle. */
  flush(): Promise<void>;
  /** Drop a pending call without running it. */
  cancel(): void;
  readonly pending: boolean;
}

/**
 * Coalesces bursts of requests into one call of `run`, `wait()` ms after the
 * first request of the burst. The timer is deliberately not pushed back by
 * later requests: a user typing without pause must not postpone the write
 * forever, so nothing waits longer than one window.
 */
export function debounce(run: () => void | Promise<void>, wait: () => number): Debouncer {
  let timer: ReturnType<typeof setTimeout> | undefined;

  const fire = (): Promise<void> => {
    timer = undefined;
    return Promise.resolve(run());
  };

  return {
    schedule() {
      if (timer === undefined) timer = setTimeout(() => void fire(), wait());
    },
    flush() {
      if (timer === undefined) return Promise.resolve();
      clearTimeout(timer);
      return fire();
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
    get pending() {
      return timer !== undefined;
    },
  };
}
