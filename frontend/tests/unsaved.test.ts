import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { Guard, type GuardDeps } from "../src/guard";
import { openMirror } from "../src/mirror";
import type { Change, GuardArgs, RestoreMessage, UnsavedArgs } from "../src/protocol";
import { applyChanges, emptyRecord } from "../src/revisions";
import { unsavedValue } from "../src/unsaved";
import { LIMITS } from "./vectors";

const SID = "a".repeat(64);
const NEXT = "b".repeat(64);
const NAME = ["forms", "contact", "name"] as const;
const EMAIL = ["forms", "contact", "email"] as const;
const UNSAVED = "stsg_unsaved";

const unsaved = (stored: number, max_chars = 3800): UnsavedArgs => ({ name: UNSAVED, stored, max_chars });
const cookie = (id: string) => ({ name: "stsg", value: `${id}.1700000000.sig`, max_age: 86400 });

function args(over: Partial<GuardArgs> = {}): GuardArgs {
  return {
    v: 1,
    session_id: SID,
    revision: 150,
    base: 0,
    changes: [
      { p: NAME, v: "Ada", r: 100 },
      { p: EMAIL, v: "ada@example.org", r: 150 },
    ],
    cookie: cookie(SID),
    limits: LIMITS,
    drafts: {},
    excluded: [],
    ack: null,
    ended: [],
    unsaved: unsaved(100),
    ...over,
  };
}

/** A guard writing into a cookie jar as `document.cookie` would: max-age=0 removes. */
function tab(over: Partial<GuardDeps> = {}) {
  const jar = new Map<string, string>();
  const lines: string[] = [];
  const guard = new Guard({
    send: () => {},
    openDatabase: () => openMirror(new IDBFactory()),
    setCookie: (line) => {
      lines.push(line);
      const [pair = ""] = line.split(";");
      const at = pair.indexOf("=");
      if (/max-age=0(;|$)/.test(line)) jar.delete(pair.slice(0, at));
      else jar.set(pair.slice(0, at), pair.slice(at + 1));
    },
    getCookie: (name) => jar.get(name),
    secure: false,
    now: () => 1000,
    warn: () => {},
    ...over,
  });
  return { guard, jar, lines };
}

/** The restore message a cookie value carries, read the way the server reads it. */
function carried(value: string | undefined): RestoreMessage {
  expect(value).toBeDefined();
  const [session, encoded = ""] = (value as string).split(".");
  expect(session).toBe(SID);
  const binary = atob(encoded.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as RestoreMessage;
}

describe("the unsaved-changes cookie", () => {
  it("holds the changes above the server's stored revision, as a restore message of the session", async () => {
    const h = tab();
    await h.guard.render(args());
    expect(carried(h.jar.get(UNSAVED))).toEqual({
      v: 1,
      seq: 1,
      type: "restore",
      session_id: SID,
      revision: 150,
      changes: [{ p: EMAIL, v: "ada@example.org", r: 150 }],
      drafts: [],
    });
    expect(h.lines.find((line) => line.startsWith(`${UNSAVED}=`))).toMatch(/; path=\/; max-age=86400; SameSite=Lax$/);
  });

  it("is removed once the server says every change is stored, and not written again", async () => {
    const h = tab();
    await h.guard.render(args());
    expect(h.jar.has(UNSAVED)).toBe(true);
    await h.guard.render(args({ base: 150, changes: [], unsaved: unsaved(150) }));
    expect(h.jar.has(UNSAVED)).toBe(false);
    const written = h.lines.length;
    await h.guard.render(args({ base: 150, changes: [], unsaved: unsaved(150) }));
    expect(h.lines.filter((line) => line.startsWith(`${UNSAVED}=`)).length).toBe(
      h.lines.slice(0, written).filter((line) => line.startsWith(`${UNSAVED}=`)).length,
    );
  });

  it("is removed when its session ends, as the session's mirror is", async () => {
    const h = tab();
    await h.guard.render(args());
    await h.guard.render(args({ session_id: NEXT, ended: [SID], cookie: cookie(NEXT), changes: [], unsaved: unsaved(0) }));
    expect(h.jar.has(UNSAVED)).toBe(false);
  });

  it("is removed when its session ends though this tab never wrote it", async () => {
    const h = tab();
    h.jar.set(UNSAVED, "x.left-by-another-tab");
    await h.guard.render(args({ session_id: NEXT, ended: ["x"], cookie: cookie(NEXT), changes: [], unsaved: unsaved(0) }));
    expect(h.jar.has(UNSAVED)).toBe(false);
  });

  it("is removed when it names a session the browser has left, once this tab has nothing unsaved", async () => {
    const h = tab();
    h.jar.set(UNSAVED, `${NEXT}.left-behind`);
    await h.guard.render(args({ unsaved: unsaved(150) }));
    expect(h.jar.has(UNSAVED)).toBe(false);
  });

  it("is kept without IndexedDB: it does not need the mirror", async () => {
    const h = tab({ openDatabase: () => Promise.reject(new Error("no IndexedDB here")) });
    await h.guard.render(args());
    expect(carried(h.jar.get(UNSAVED)).changes).toEqual([{ p: EMAIL, v: "ada@example.org", r: 150 }]);
  });

  it("carries typing not yet committed, after a pause in it, and drops it once committed", async () => {
    const h = tab();
    await h.guard.render(args({ drafts: { name_w: ["contact", "name"] }, unsaved: unsaved(150) }));
    expect(h.jar.has(UNSAVED)).toBe(false);
    h.guard.capture("name_w", "Ada Lov");
    await h.guard.flush();
    expect(carried(h.jar.get(UNSAVED)).drafts).toEqual([{ key: "name_w", value: "Ada Lov", base: 100 }]);
    await h.guard.render(
      args({ base: 150, revision: 200, changes: [{ p: NAME, v: "Ada Lovelace", r: 200 }], drafts: { name_w: ["contact", "name"] }, unsaved: unsaved(200) }),
    );
    expect(h.jar.has(UNSAVED)).toBe(false);
  });

  it("is not written when the server does not name it", async () => {
    const h = tab();
    await h.guard.render(args({ unsaved: null }));
    expect(h.jar.has(UNSAVED)).toBe(false);
  });
});

describe("unsavedValue", () => {
  const record = (changes: Change[]) => applyChanges(emptyRecord(SID), changes);

  it("keeps the newest changes that fit and leaves the rest to the mirror", () => {
    const changes = Array.from({ length: 40 }, (_, i) => ({ p: ["forms", "f", `x${i}`] as const, v: "é".repeat(20), r: i + 1 }));
    const value = unsavedValue(record(changes), unsaved(0, 1000), LIMITS) as string;
    expect(value.length - SID.length - 1).toBeLessThanOrEqual(1000);
    const kept = carried(value).changes.map((c) => c.r);
    expect(kept.length).toBeGreaterThan(3);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 40 - kept.length + 1 + i));
  });

  it("gives the page's values the room before undo snapshots, however new those are", () => {
    const snapshot = { p: ["snapshots", "contact", "1"] as const, v: { n: 1, v: "x".repeat(200) }, r: 300 };
    const value = unsavedValue(record([{ p: NAME, v: "y".repeat(100), r: 200 }, snapshot]), unsaved(100, 600), LIMITS);
    expect(carried(value).changes.map((c) => c.r)).toEqual([200]);
  });

  it("gives drafts the room before undo snapshots, after the values the page shows", () => {
    const snapshot = { p: ["snapshots", "contact", "1"] as const, v: { n: 1, v: "x".repeat(150) }, r: 300 };
    const draft = { key: "name_w", value: "d".repeat(150), base: 200 };
    const value = unsavedValue(record([{ p: NAME, v: "y".repeat(60), r: 200 }, snapshot]), unsaved(100, 800), LIMITS, [draft]);
    expect(carried(value).changes.map((c) => c.r)).toEqual([200]);
    expect(carried(value).drafts).toEqual([draft]);
  });

  it("carries a deletion above the stored revision as a tombstone", () => {
    const value = unsavedValue(record([{ p: NAME, v: "Ada", r: 100 }, { p: NAME, v: null, r: 120, d: true }]), unsaved(100), LIMITS);
    expect(carried(value).changes).toEqual([{ p: NAME, v: null, r: 120, d: true }]);
  });

  it("is undefined when nothing is above the stored revision, or when the session id cannot lead a cookie", () => {
    expect(unsavedValue(record([{ p: NAME, v: "Ada", r: 100 }]), unsaved(100), LIMITS)).toBeUndefined();
    const odd = applyChanges(emptyRecord("a;b"), [{ p: NAME, v: "Ada", r: 100 }]);
    expect(unsavedValue(odd, unsaved(0), LIMITS)).toBeUndefined();
  });
});
