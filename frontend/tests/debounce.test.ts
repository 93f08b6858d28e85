import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { debounce } from "../src/debounce";

describe("debounce", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("coalesces many schedules within one window into a single call", () => {
    const run = vi.fn();
    const d = debounce(run, () => 150);
    for (let i = 0; i < 1000; i++) d.schedule();
    expect(run).not.toHaveBeenCalled();
    vi.advanceTimersByTime(150);
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("runs one window after the first schedule even while schedules keep coming", () => {
    const run = vi.fn();
    const d = debounce(run, () => 100);
    for (let t = 0; t < 100; t += 10) {
      d.schedule();
      vi.advanceTimersByTime(10);
    }
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("flush runs the pending call at once and resolves after it finished", async () => {
    const order: string[] = [];
    const d = debounce(async () => {
      await Promise.resolve();
      order.push("ran");
    }, () => 150);
    d.schedule();
    await d.flush();
    order.push("flushed");
    expect(order).toEqual(["ran", "flushed"]);
    vi.advanceTimersByTime(500);
    expect(order).toEqual(["ran", "flushed"]);
    expect(d.pending).toBe(false);
  });

  it("flush does nothing when no call is pending", async () => {
    const run = vi.fn();
    await debounce(run, () => 150).flush();
    expect(run).not.toHaveBeenCalled();
  });

  it("cancel drops the pending call", () => {
    const run = vi.fn();
    const d = debounce(run, () => 150);
    d.schedule();
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(run).not.toHaveBeenCalled();
    expect(d.pending).toBe(false);
  });

  it("a schedule after a call opens a new window with the current wait", () => {
    const run = vi.fn();
    let wait = 100;
    const d = debounce(run, () => wait);
    d.schedule();
    vi.advanceTimersByTime(100);
    wait = 300;
    d.schedule();
    vi.advanceTimersByTime(299);
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(run).toHaveBeenCalledTimes(2);
  });
});
