import { describe, expect, it } from "vitest";
import { boundsProblem, type Change, type Limits, type MirrorRecord } from "../src/protocol";
import { applyChanges, emptyRecord } from "../src/revisions";
import { trimUndo } from "../src/trim";
import { LIMITS } from "./vectors";

const SMALL: Limits = { ...LIMITS, max_bytes: 10_000 };
const step = (n: number, size = 2_000): Change["v"] => ({ n, step: [["notes", true, "b".repeat(size), true, `${n}`]] });

/** A record of form `f` with steps `numbers` (slot = number, revision = 100 + number) and this line. */
function withSteps(numbers: number[], line: { lo: number; at: number; hi: number }, extra: Change[] = []): MirrorRecord {
  return applyChanges(emptyRecord("s1"), [
    { p: ["forms", "f", "notes"], v: "the latest edit", r: 500 },
    { p: ["snapshots", "f", "line"], v: line, r: 400 },
    ...numbers.map((n): Change => ({ p: ["snapshots", "f", `${n % 50}`], v: step(n), r: 100 + n })),
    ...extra,
  ]);
}

const slots = (record: MirrorRecord, form = "f"): string[] =>
  Object.keys(record.snapshots[form] as object).filter((k) => k !== "line" && k !== "saved").sort();

describe("trimming a mirror record past the bounds", () => {
  it("drops the oldest undo steps until it fits, keeping the form values and every revision", () => {
    const record = withSteps([1, 2, 3, 4, 5, 6], { lo: 0, at: 6, hi: 6 });
    expect(boundsProblem(record, SMALL)).toBeDefined();
    const trimmed = trimUndo(record, "s1", SMALL);
    expect(trimmed).toBeDefined();
    const { record: kept, dropped } = trimmed as NonNullable<typeof trimmed>;
    expect(boundsProblem(kept, SMALL)).toBeUndefined();
    expect(dropped).toBe(2);
    expect(slots(kept)).toEqual(["3", "4", "5", "6"]);
    expect((kept.snapshots.f as Record<string, unknown>).line).toEqual({ lo: 2, at: 6, hi: 6 });
    expect(kept.forms).toEqual(record.forms);
    expect(kept.revs).toEqual(record.revs);
    expect(kept.revision).toBe(record.revision);
  });

  it("drops a slot its line no longer holds first, then the newest redo step", () => {
    const record = withSteps([1, 2, 3, 4, 5, 6], { lo: 1, at: 1, hi: 6 });
    const kept = trimUndo(record, "s1", SMALL)?.record as MirrorRecord;
    expect(slots(kept)).toEqual(["2", "3", "4", "5"]);
    expect((kept.snapshots.f as Record<string, unknown>).line).toEqual({ lo: 1, at: 1, hi: 5 });
  });

  it("takes the step whose slot changed longest ago from whichever form holds it", () => {
    const record = withSteps([1, 2, 3, 4], { lo: 0, at: 4, hi: 4 }, [
      { p: ["snapshots", "g", "line"], v: { lo: 0, at: 1, hi: 1 }, r: 50 },
      { p: ["snapshots", "g", "1"], v: step(1), r: 50 },
    ]);
    const kept = trimUndo(record, "s1", SMALL)?.record as MirrorRecord;
    expect(slots(kept, "g")).toEqual([]);
    expect(slots(kept)).toEqual(["1", "2", "3", "4"]);
  });

  it("gives up, so the record is deleted, when the form values alone are past the bounds", () => {
    const record = withSteps([1], { lo: 0, at: 1, hi: 1 }, [
      { p: ["forms", "f", "big"], v: "x".repeat(SMALL.max_bytes), r: 600 },
    ]);
    expect(trimUndo(record, "s1", SMALL)).toBeUndefined();
  });

  it("leaves a malformed record alone", () => {
    expect(trimUndo({ ...withSteps([1], { lo: 0, at: 1, hi: 1 }), forms: 3 }, "s1", SMALL)).toBeUndefined();
  });
});
