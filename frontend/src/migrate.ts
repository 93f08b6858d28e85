// Mirror records of older layouts, brought up to the current one when read.

import { isObject, parsePathKey } from "./revisions";

/**
 * Layout 1 kept a form's whole undo history at ["snapshots", form]; layout 2
 * gives each undo step a path of its own below it (docs/protocol.md). The
 * old history paths are dropped, since the server holds them and would refuse
 * them back; every other path of the mirror is kept.
 */
function fromLayout1(record: Record<string, unknown>): Record<string, unknown> {
  const revs = isObject(record.revs) ? record.revs : {};
  const kept = Object.entries(revs).filter(([key]) => parsePathKey(key)?.[0] !== "snapshots");
  return { ...record, schema: 2, snapshots: {}, revs: Object.fromEntries(kept) };
}

const STEPS: ReadonlyMap<unknown, (record: Record<string, unknown>) => Record<string, unknown>> =
  new Map([[1, fromLayout1]]);

/** The stored value in the newest layout; a value no step knows is returned as it is. */
export function upgradeRecord(value: unknown): unknown {
  let current = value;
  for (;;) {
    const step = isObject(current) ? STEPS.get(current.schema) : undefined;
    if (step === undefined || !isObject(current)) return current;
    current = step(current);
  }
}
