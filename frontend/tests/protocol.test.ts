// The protocol as the browser reads it, held to the shared vectors that
// Python's tests/test_protocol.py reads too.
import { describe, expect, it } from "vitest";
import {
  boundsProblem,
  isPath,
  parseArgs,
  readMessage,
  recordProblem,
  upgradeChanges,
  upgradeRecord,
} from "../src/protocol";
import { emptyRecord } from "../src/revisions";
import { LIMITS, vectors, type Case } from "./vectors";

/** JSON text as a browser parses it: NaN and Infinity are errors (undefined here). */
function parse(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/** A large bound-case from its compact description in the vectors. */
function generate(gen: Record<string, number>): unknown {
  const [[kind, n]] = Object.entries(gen) as [[string, number]];
  if (kind === "bytes") return "x".repeat(n - 2);
  if (kind === "depth") {
    let value: unknown = [];
    for (let i = 1; i < n; i += 1) value = [value];
    return value;
  }
  if (kind === "items") return new Array(n - 1).fill(0);
  const message = { v: 1, seq: 1, type: "restore", session_id: "S", revision: 1, changes: [] as unknown[], drafts: [] as unknown[] };
  if (kind === "changes") message.changes = Array.from({ length: n }, () => ({ p: ["page"], v: 1, r: 1 }));
  else if (kind === "drafts") message.drafts = Array.from({ length: n }, () => ({ key: "k", value: "x", base: 1 }));
  else throw new Error(`unknown generator ${kind}`);
  return message;
}

const verdict = (ok: boolean): Case["expect"] => (ok ? "accept" : "reject");

/** A case's input: its raw `json` text as a browser parses it (undefined when that fails), a generated one, or `field`. */
function inputOf(c: Case, field: string): { value: unknown } | undefined {
  if (typeof c.json === "string") return parse(c.json);
  const given = c[field] ?? c;
  if (typeof given === "object" && given !== null && "gen" in given) {
    return { value: generate((given as { gen: Record<string, number> }).gen) };
  }
  return { value: c[field] };
}

describe("the shared protocol vectors", () => {
  it.each(vectors("paths.json").cases)("path: $name", (c) => {
    expect(verdict(isPath(c.path, LIMITS))).toBe(c.expect);
  });

  it.each(vectors("bounds.json").cases)("bounds: $name", (c) => {
    const input = inputOf(c, "value");
    expect(verdict(input !== undefined && boundsProblem(input.value, LIMITS) === undefined)).toBe(c.expect);
  });

  it.each(vectors("messages.json").cases)("message: $name", (c) => {
    const input = inputOf(c, "message");
    const lastSeq = (c.last_seq as number | undefined) ?? 0;
    const message = input === undefined ? undefined : readMessage(input.value, "S", lastSeq, LIMITS);
    expect(verdict(message !== undefined)).toBe(c.expect);
    if (message?.type === "restore") {
      if (c.changes !== undefined) expect(message.changes.length).toBe(c.changes);
      if (c.drafts !== undefined) expect(message.drafts.length).toBe(c.drafts);
    }
  });

  it.each(vectors("args.json").cases)("args: $name", (c) => {
    const input = inputOf(c, "args");
    const args = input === undefined ? undefined : parseArgs(input.value);
    expect(verdict(args !== undefined)).toBe(c.expect);
    if (args !== undefined) {
      if (c.changes !== undefined) expect(args.changes.length).toBe(c.changes);
      if (c.drafts !== undefined) expect(Object.keys(args.drafts).length).toBe(c.drafts);
      if (c.cookie !== undefined) expect(args.cookie !== null).toBe(c.cookie);
      if (c.ended !== undefined) expect(args.ended.length).toBe(c.ended);
      if (c.unsaved !== undefined) expect(args.unsaved !== null).toBe(c.unsaved);
    }
  });

  it.each(vectors("records.json").cases)("record: $name", (c) => {
    const upgraded = upgradeChanges(c.schema, c.changes, LIMITS);
    expect(verdict(upgraded !== undefined)).toBe(c.expect);
    if (upgraded !== undefined) expect(upgraded).toEqual(c.upgraded);
  });
});

describe("mirror records of older layouts", () => {
  it("bring a layout 1 history into one path per step, as the change-list migration does", () => {
    const history = { snapshots: [], undo: [[["n", false, null, true, 1]]], redo: [] };
    const v1 = {
      schema: 1,
      session_id: "S",
      revision: 7,
      updated_at: 1,
      page: "home",
      forms: { f: { n: 1 } },
      form_meta: {},
      snapshots: { f: history },
      revs: { '["page"]': 3, '["forms","f","n"]': 5, '["snapshots","f"]': 7, '["navigation"]': 2 },
    };
    expect(upgradeRecord(v1, LIMITS)).toEqual({
      ...v1,
      schema: 2,
      storage: {},
      snapshots: { f: { saved: [], line: { lo: 0, at: 1, hi: 1 }, "1": { n: 1, step: history.undo[0] } } },
      revs: {
        '["page"]': 3,
        '["forms","f","n"]': 5,
        '["navigation"]': 2,
        '["snapshots","f","saved"]': 7,
        '["snapshots","f","line"]': 7,
        '["snapshots","f","1"]': 7,
      },
    });
  });

  it("give a record of this layout written before session.storage an empty storage, keeping the rest", () => {
    const before = {
      schema: 2,
      session_id: "S",
      revision: 7,
      updated_at: 1,
      forms: { f: { n: 1 } },
      form_meta: {},
      snapshots: {},
      revs: { '["forms","f","n"]': 5 },
    };
    const upgraded = upgradeRecord(before, LIMITS);
    expect(upgraded).toEqual({ ...before, storage: {} });
    expect(recordProblem(upgraded, "S", LIMITS)).toBeUndefined();
  });

  it("leave a record of an unknown or malformed layout as it is, for the reader to refuse", () => {
    for (const value of [{ schema: 3, revs: {} }, { schema: 1, revs: { "[": 1 } }, { schema: 1 }, "x", null]) {
      expect(upgradeRecord(value, LIMITS)).toBe(value);
    }
  });
});

describe("render args", () => {
  it("leave out changes outside the mirrored roots or of malformed shape", () => {
    const args = parseArgs({
      v: 1,
      session_id: "S",
      limits: LIMITS,
      changes: [
        { p: ["roles"], v: ["admin"], r: 10 },
        { p: ["forms"], v: "not an object", r: 10 },
        { p: ["forms", "__proto__", "x"], v: 1, r: 10 },
        { p: ["page"], v: "home", r: -1 },
        { p: "page", v: "home", r: 10 },
        null,
        { p: ["page"], v: "home", r: 10 },
      ],
    });
    expect(args?.changes).toEqual([{ p: ["page"], v: "home", r: 10 }]);
  });
});

describe("the storage of a mirror record", () => {
  it("is an object every record holds, so a record without one is refused", () => {
    const record = emptyRecord("S");
    expect(recordProblem(record, "S", LIMITS)).toBeUndefined();
    const { storage: _dropped, ...without } = record;
    expect(recordProblem(without, "S", LIMITS)).toBe("malformed");
    expect(recordProblem({ ...record, storage: [] }, "S", LIMITS)).toBe("malformed");
  });

  it("holds one path per key, so revs may name a storage key", () => {
    const record = { ...emptyRecord("S"), storage: { messages: [] }, revs: { '["storage","messages"]': 3 } };
    expect(recordProblem(record, "S", LIMITS)).toBeUndefined();
    const deeper = { ...record, revs: { '["storage","messages","0"]': 3 } };
    expect(recordProblem(deeper, "S", LIMITS)).toBe("malformed");
  });
});
