// Making a stored mirror record that is past the bounds fit again. Its undo
// steps give way, oldest first, by the rule the server keeps
// (st_session_guard/history.py, FormHistory.oldest): a step its line no
// longer holds, then the oldest undo step, then the newest redo step. Form
// values, storage and the rest are never dropped here, so a mirror loses its
// latest edits only if it cannot fit without a single undo step.
// Revisions stay as they were: a trimmed path never outranks the server's copy.

import { isObject, measure, pathKey, recordProblem, type Limits, type MirrorRecord } from "./protocol";

type Obj = Record<string, unknown>;

export interface Trimmed {
  record: MirrorRecord;
  /** How many undo steps were dropped. */
  dropped: number;
}

const wholeNumber = (value: unknown): number => (Number.isInteger(value) ? (value as number) : 0);

/** [slot, step number] of the step that gives way first in one form's history (number 0: not in the line). */
function oldestStep(history: Obj): [string, number] | undefined {
  const line = isObject(history.line) ? history.line : {};
  const [lo, at, hi] = [wholeNumber(line.lo), wholeNumber(line.at), wholeNumber(line.hi)];
  let undo: [string, number] | undefined;
  let redo: [string, number] | undefined;
  for (const [slot, kept] of Object.entries(history)) {
    if (slot === "saved" || slot === "line") continue;
    const n = isObject(kept) ? kept.n : undefined;
    if (typeof n !== "number" || !(lo < n && n <= hi)) return [slot, 0];
    if (n <= at) {
      if (undo === undefined || n < undo[1]) undo = [slot, n];
    } else if (redo === undefined || n > redo[1]) {
      redo = [slot, n];
    }
  }
  return undo ?? redo;
}

/** `history` without the step in `slot`, its line's end moved past step `n`. */
function withoutStep(history: Obj, slot: string, n: number): Obj {
  const next: Obj = { ...history };
  delete next[slot];
  const line = history.line;
  if (n > 0 && isObject(line)) {
    next.line = n <= wholeNumber(line.at) ? { ...line, lo: n } : { ...line, hi: n - 1 };
  }
  return next;
}

/**
 * `record` with undo steps dropped, the one whose slot changed longest ago
 * first, until it is no larger than `limits.max_bytes`; undefined when it
 * breaks another rule or still does not fit with every undo step gone.
 */
export function trimUndo(record: unknown, sessionId: string, limits: Limits): Trimmed | undefined {
  const unbounded = { ...limits, max_bytes: Number.POSITIVE_INFINITY };
  if (recordProblem(record, sessionId, unbounded) !== undefined) return undefined;
  const mirror = record as MirrorRecord;
  let size = measure(mirror, limits, Number.POSITIVE_INFINITY) as number;
  const snapshots: Obj = { ...mirror.snapshots };
  let dropped = 0;
  while (size > limits.max_bytes) {
    let victim: [form: string, slot: string, n: number, revision: number] | undefined;
    for (const [form, history] of Object.entries(snapshots)) {
      const found = isObject(history) ? oldestStep(history) : undefined;
      if (found === undefined) continue;
      const revision = mirror.revs[pathKey(["snapshots", form, found[0]])] ?? 0;
      if (victim === undefined || revision < victim[3]) victim = [form, ...found, revision];
    }
    if (victim === undefined) return undefined;
    const [form, slot, n] = victim;
    const history = snapshots[form] as Obj;
    size -= (measure(history[slot], limits, Number.POSITIVE_INFINITY) as number) + slot.length + 2;
    snapshots[form] = withoutStep(history, slot, n);
    dropped += 1;
  }
  return { record: { ...mirror, snapshots: snapshots as MirrorRecord["snapshots"] }, dropped };
}
