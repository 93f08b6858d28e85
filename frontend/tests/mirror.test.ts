import { IDBFactory } from "fake-indexeddb";
import { beforeEach, describe, expect, it, vi } from "vitest";
import {
  clearSession,
  DB_NAME,
  DB_VERSION,
  DRAFTS,
  getSession,
  loadDrafts,
  loadSession,
  openMirror,
  request,
  SESSIONS,
  writeBatch,
} from "../src/mirror";
import { recordPolicy, storeOver } from "../src/guard";
import type { Change, DraftRecord } from "../src/protocol";
import { applyChanges, emptyRecord } from "../src/revisions";
import { isDraft, LIMITS, policy, replacing } from "./vectors";

let db: IDBDatabase;
beforeEach(async () => {
  db = await openMirror(new IDBFactory());
});

function put(store: string, value: unknown, key: IDBValidKey): Promise<void> {
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).put(value, key);
  return request(tx);
}

const record = applyChanges(emptyRecord("s1"), [
  { p: ["forms", "contact", "name"], v: "Ada", r: 10 },
  { p: ["page"], v: "home", r: 12 },
]);
const draft = (session_id: string, key: string, ts = 5): DraftRecord => ({
  session_id,
  key,
  value: "typed",
  base: 10,
  ts,
});

describe("the IndexedDB mirror", () => {
  it("opens database st-session-guard version 1 with the sessions and drafts stores", () => {
    expect(db.name).toBe(DB_NAME);
    expect(db.version).toBe(DB_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual([DRAFTS, SESSIONS]);
  });

  it("deletes a stored record past the server's bounds or holding NaN or Infinity, with a warning", async () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 1_000; i += 1) deep = [deep];
    const huge = "x".repeat(LIMITS.max_bytes);
    for (const bad of [deep, huge, Number.NaN, [Number.POSITIVE_INFINITY], { constructor: 1 }]) {
      const tampered = applyChanges(record, [{ p: ["forms", "contact", "bio"], v: bad as string, r: 20 }]);
      await put(SESSIONS, tampered, "s1");
      const warn = vi.fn();
      expect(await loadSession(db, "s1", policy("s1"), warn)).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(await getSession(db, "s1")).toBeUndefined();
    }
    await put(SESSIONS, record, "s1");
    expect(await loadSession(db, "s1", policy("s1"), vi.fn())).toEqual(record);
  });

  it("reads a record past the bounds with its oldest undo steps dropped and its latest values kept", async () => {
    const third = Math.floor(LIMITS.max_bytes / 3);
    const steps = [1, 2, 3, 4].map((n): Change => ({
      p: ["snapshots", "contact", `${n}`],
      v: { n, step: [["bio", true, "b".repeat(third), true, `${n}`]] },
      r: 10 + n,
    }));
    const large = applyChanges(record, [
      { p: ["snapshots", "contact", "line"], v: { lo: 0, at: 4, hi: 4 }, r: 15 },
      ...steps,
    ]);
    await put(SESSIONS, large, "s1");
    const warn = vi.fn();
    const read = await loadSession(db, "s1", recordPolicy("s1", LIMITS), warn);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toContain("dropped the 2 oldest undo step(s)");
    expect(read?.forms).toEqual(record.forms);
    expect(read?.page).toBe("home");
    expect(Object.keys(read?.snapshots.contact as object).sort()).toEqual(["3", "4", "line"]);
    expect(await getSession(db, "s1")).toBeDefined();
  });

  it("rejects when the browser has no IndexedDB", async () => {
    await expect(openMirror(undefined)).rejects.toThrow(/not available/);
  });

  it("round-trips a session record keyed by its session id", async () => {
    await writeBatch(db, { session: storeOver(record, LIMITS) });
    expect(await getSession(db, "s1")).toEqual(record);
    const warn = vi.fn();
    expect(await loadSession(db, "s1", policy("s1"), warn)).toEqual(record);
    expect(warn).not.toHaveBeenCalled();
  });

  it("stores drafts under [session id, widget key] and reads back only that session's", async () => {
    await writeBatch(db, { drafts: [draft("s1", "a"), draft("s1", "b"), draft("s2", "a")] });
    const raw = db.transaction(DRAFTS).objectStore(DRAFTS).get(["s1", "b"]);
    expect(await request(raw)).toEqual(draft("s1", "b"));
    const drafts = await loadDrafts(db, "s1", isDraft, vi.fn());
    expect(drafts.map((d) => d.key).sort()).toEqual(["a", "b"]);
  });

  it("puts and deletes drafts together with the record in one batch", async () => {
    await writeBatch(db, { drafts: [draft("s1", "a"), draft("s1", "b")] });
    await writeBatch(db, { session: replacing(record), dropDrafts: [["s1", "a"]] });
    expect(await getSession(db, "s1")).toEqual(record);
    expect((await loadDrafts(db, "s1", isDraft, vi.fn())).map((d) => d.key)).toEqual(["b"]);
  });

  it("clearing a session removes its record and drafts and nothing else", async () => {
    await writeBatch(db, {
      session: replacing(record),
      drafts: [draft("s1", "a"), draft("s2", "a")],
    });
    await writeBatch(db, { session: replacing({ ...record, session_id: "s2" }) });
    await clearSession(db, "s1");
    expect(await getSession(db, "s1")).toBeUndefined();
    expect(await loadDrafts(db, "s1", isDraft, vi.fn())).toEqual([]);
    expect(await getSession(db, "s2")).toBeDefined();
    expect(await loadDrafts(db, "s2", isDraft, vi.fn())).toHaveLength(1);
  });

  it("deletes a record of a schema version it does not know with one warning", async () => {
    await put(SESSIONS, { ...record, schema: 99 }, "s1");
    const warn = vi.fn();
    expect(await loadSession(db, "s1", policy("s1"), warn)).toBeUndefined();
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]?.[0]).toMatch(/^st-session-guard: .*schema 99/);
    expect(await getSession(db, "s1")).toBeUndefined();
  });

  it("reads a layout 1 record with its one-path undo history as one path per step", async () => {
    const step = [["name", false, null, true, "Ada"]];
    const layout1 = {
      ...record,
      schema: 1,
      snapshots: { contact: { undo: [step], redo: [] } },
      revs: { ...record.revs, '["snapshots","contact"]': 11 },
    };
    await put(SESSIONS, layout1, "s1");
    const warn = vi.fn();
    const read = await loadSession(db, "s1", policy("s1"), warn);
    expect(read?.forms).toEqual(record.forms);
    expect(read?.snapshots).toEqual({
      contact: { saved: [], line: { lo: 0, at: 1, hi: 1 }, "1": { n: 1, step } },
    });
    expect(read?.revs['["snapshots","contact","1"]']).toBe(11);
    expect(warn).not.toHaveBeenCalled();
  });

  it("merges a newer layout 1 record another tab stored, its history brought to layout 2", async () => {
    const other = applyChanges(emptyRecord("s1"), [
      { p: ["forms", "contact", "email"], v: "a@b", r: 20 },
    ]);
    const layout1 = { ...other, schema: 1, snapshots: { c: {} } };
    await put(SESSIONS, { ...layout1, revs: { ...other.revs, '["snapshots","c"]': 21 } }, "s1");
    await writeBatch(db, { session: storeOver({ ...record, revision: 30 }, LIMITS) });
    const stored = (await getSession(db, "s1")) as typeof record;
    expect(stored.schema).toBe(2);
    expect(stored.forms).toEqual({ contact: { name: "Ada", email: "a@b" } });
    expect(Object.keys(stored.revs)).not.toContain('["snapshots","c"]');
    expect(stored.revs['["snapshots","c","line"]']).toBe(21);
  });

  it.each([
    ["a string", "junk"],
    ["null", null],
    ["an array", [record]],
    ["a record of another session", { ...record, session_id: "s2" }],
    ["forms that are not an object", { ...record, forms: [] }],
    ["a revision that is not a number", { ...record, revision: "10" }],
    ["revs keyed by something that is not a path", { ...record, revs: { page: 1 } }],
    ["revs holding a non-number", { ...record, revs: { '["page"]': "1" } }],
  ])("deletes a malformed record (%s) with one warning", async (_, value) => {
    await put(SESSIONS, value, "s1");
    const warn = vi.fn();
    expect(await loadSession(db, "s1", policy("s1"), warn)).toBeUndefined();
    expect(warn).toHaveBeenCalledOnce();
    expect(await getSession(db, "s1")).toBeUndefined();
  });

  it("deletes malformed drafts with one warning and keeps the good ones", async () => {
    await put(DRAFTS, draft("s1", "good"), ["s1", "good"]);
    await put(DRAFTS, { ...draft("s1", "bad"), value: 3 }, ["s1", "bad"]);
    await put(DRAFTS, draft("s1", "other key"), ["s1", "mismatch"]);
    const warn = vi.fn();
    const drafts = await loadDrafts(db, "s1", isDraft, warn);
    expect(drafts.map((d) => d.key)).toEqual(["good"]);
    expect(warn).toHaveBeenCalledOnce();
    expect(await loadDrafts(db, "s1", isDraft, vi.fn())).toHaveLength(1);
  });
});
