import { describe, expect, it } from "vitest";
import { pathKey, type Change, type MirrorRecord } from "../src/protocol";
import {
  applyArgs,
  applyChanges,
  decide,
  emptyRecord,
  messageKey,
  newerChanges,
  listedRevisions,
  valueAt,
  type DecisionInput,
} from "../src/revisions";

const NAME = ["forms", "contact", "name"] as const;
const EMAIL = ["forms", "contact", "email"] as const;

const set = (p: Change["p"], v: Change["v"], r: number): Change => ({ p, v, r });
const del = (p: Change["p"], r: number): Change => ({ p, v: null, r, d: true });

function recordWith(...changes: Change[]): MirrorRecord {
  return applyChanges(emptyRecord("s1"), changes);
}

describe("applying changes", () => {
  it("a storage change lands under the record's storage object, a deletion leaves a tombstone", () => {
    const MESSAGES = ["storage", "messages"] as const;
    const stored = recordWith(set(MESSAGES, [{ role: "user", content: "hi" }], 10));
    expect(stored.storage).toEqual({ messages: [{ role: "user", content: "hi" }] });
    const deleted = applyChanges(stored, [del(MESSAGES, 20)]);
    expect(deleted.storage).toEqual({});
    expect(deleted.revs[pathKey(MESSAGES)]).toBe(20);
  });

  it("a newer change replaces the stored value", () => {
    const next = applyChanges(recordWith(set(NAME, "Ada", 10)), [set(NAME, "Ada L", 20)]);
    expect(next.forms).toEqual({ contact: { name: "Ada L" } });
    expect(next.revs[pathKey(NAME)]).toBe(20);
  });

  it("an older change does not overwrite a newer stored value", () => {
    const record = recordWith(set(NAME, "Ada L", 20));
    const next = applyChanges(record, [set(NAME, "Ada", 10)]);
    expect(valueAt(next, NAME)).toBe("Ada L");
    expect(next.revs[pathKey(NAME)]).toBe(20);
    expect(next).toBe(record);
  });

  it("a change with the same revision replaces the stored value", () => {
    const next = applyChanges(recordWith(set(NAME, "mine", 20)), [set(NAME, "server", 20)]);
    expect(valueAt(next, NAME)).toBe("server");
  });

  it("an identical change at the same revision leaves the record untouched", () => {
    const record = recordWith(set(NAME, { first: "Ada" }, 20), del(EMAIL, 20));
    expect(applyChanges(record, [set(NAME, { first: "Ada" }, 20), del(EMAIL, 20)])).toBe(record);
  });

  it("newest wins per path, not per batch", () => {
    const record = recordWith(set(NAME, "new name", 30), set(EMAIL, "old@x", 5));
    const next = applyChanges(record, [set(NAME, "stale", 10), set(EMAIL, "new@x", 10)]);
    expect(next.forms).toEqual({ contact: { name: "new name", email: "new@x" } });
  });

  it("a deletion removes the value but keeps its revision as a tombstone", () => {
    const next = applyChanges(recordWith(set(NAME, "Ada", 10)), [del(NAME, 20)]);
    expect(valueAt(next, NAME)).toBeUndefined();
    expect(next.forms).toEqual({ contact: {} });
    expect(next.revs[pathKey(NAME)]).toBe(20);
  });

  it("an older write cannot bring a deleted value back, a newer one can", () => {
    const deleted = recordWith(set(NAME, "Ada", 10), del(NAME, 20));
    expect(valueAt(applyChanges(deleted, [set(NAME, "zombie", 15)]), NAME)).toBeUndefined();
    expect(valueAt(applyChanges(deleted, [set(NAME, "back", 25)]), NAME)).toBe("back");
  });

  it("deleting a top-level path removes the field so it reads as deleted, not null", () => {
    const next = recordWith(set(["page"], "home", 10), del(["page"], 20));
    expect("page" in next).toBe(false);
    expect(newerChanges(next, 0)).toEqual([{ p: ["page"], v: null, r: 20, d: true }]);
  });

  it("never mutates the record it was given", () => {
    const record = recordWith(set(NAME, "Ada", 10));
    const frozen = structuredClone(record);
    applyChanges(record, [set(NAME, "x", 20), set(EMAIL, "y", 20), del(NAME, 30)]);
    expect(record).toEqual(frozen);
  });

  it("the record's revision becomes the largest applied revision", () => {
    expect(recordWith(set(NAME, "a", 10), set(EMAIL, "b", 40)).revision).toBe(40);
  });
});

describe("applying render args", () => {
  it("takes the server's revision when it is the largest", () => {
    const next = applyArgs(recordWith(set(NAME, "a", 10)), {
      changes: [set(EMAIL, "b", 20)],
      base: 5,
      revision: 50,
    });
    expect(next.revision).toBe(50);
  });

  it("with base 0 keeps mirror paths the server does not list", () => {
    const record = recordWith(set(NAME, "Ada", 10), set(EMAIL, "lost@x", 20));
    const next = applyArgs(record, { changes: [set(NAME, "Ada", 10)], base: 0, revision: 30 });
    expect(valueAt(next, EMAIL)).toBe("lost@x");
  });

  it("with base 0 keeps a mirror value newer than the server's listed one", () => {
    const record = recordWith(set(NAME, "typed later", 40));
    const next = applyArgs(record, { changes: [set(NAME, "Ada", 10)], base: 0, revision: 90 });
    expect(valueAt(next, NAME)).toBe("typed later");
    expect(next.revision).toBe(90);
  });

  it("with base above 0 leaves unlisted paths alone", () => {
    const record = recordWith(set(NAME, "Ada", 10), set(EMAIL, "e@x", 20));
    const next = applyArgs(record, { changes: [], base: 20, revision: 30 });
    expect(valueAt(next, EMAIL)).toBe("e@x");
  });

  it("keeps the mirror's revision while it is behind base, so the gap stays visible", () => {
    const record = recordWith(set(NAME, "Ada", 10));
    const next = applyArgs(record, { changes: [set(EMAIL, "e@x", 60)], base: 50, revision: 60 });
    expect(valueAt(next, EMAIL)).toBe("e@x");
    expect(next.revision).toBe(10);
  });
});

describe("paths newer than the server", () => {
  it("lists only paths above the server's revision, with values or deletions", () => {
    const record = recordWith(
      set(NAME, "old", 10),
      set(EMAIL, "new@x", 40),
      set(["snapshots", "contact"], [{ name: "a" }], 35),
      del(["navigation"], 50),
    );
    expect(newerChanges(record, 30)).toEqual([
      { p: ["snapshots", "contact"], v: [{ name: "a" }], r: 35 },
      { p: EMAIL, v: "new@x", r: 40 },
      { p: ["navigation"], v: null, r: 50, d: true },
    ]);
  });
});

describe("deciding what to send", () => {
  const input = (over: Partial<DecisionInput>): DecisionInput => ({
    record: recordWith(set(NAME, "Ada", 10)),
    previousRevision: 10,
    serverRevision: 10,
    listed: null,
    base: 10,
    drafts: [],
    sent: new Set(),
    compared: true,
    ...over,
  });

  it("sends nothing when the mirror and the server agree", () => {
    expect(decide(input({}))).toBeNull();
    expect(decide(input({ base: 10, serverRevision: 20 }))).toBeNull();
  });

  it("sends a restore holding only the paths newer than the server", () => {
    const record = recordWith(set(NAME, "Ada", 10), set(EMAIL, "new@x", 40));
    expect(decide(input({ record, serverRevision: 30 }))).toEqual({
      v: 1,
      type: "restore",
      session_id: "s1",
      revision: 40,
      changes: [{ p: EMAIL, v: "new@x", r: 40 }],
      drafts: [],
    });
  });

  it("on a full list, sends back each path newer than the server's copy of it", () => {
    // The server restarted inside its write-behind window: it has name at 10
    // and no email at all, while a page view already moved its revision to 500.
    const record = recordWith(set(NAME, "typed later", 40), set(EMAIL, "lost@x", 20));
    const listed = listedRevisions([set(NAME, "Ada", 10)]);
    const out = decide(input({ record, serverRevision: 500, base: 0, listed }));
    expect(out).toMatchObject({
      type: "restore",
      changes: [
        { p: EMAIL, v: "lost@x", r: 20 },
        { p: NAME, v: "typed later", r: 40 },
      ],
    });
  });

  it("on a full list, sends nothing when the server has every path as new", () => {
    const record = recordWith(set(NAME, "Ada", 10));
    const listed = listedRevisions([set(NAME, "Ada", 10)]);
    expect(decide(input({ record, serverRevision: 500, base: 0, listed }))).toBeNull();
  });

  it("sends a restore for live drafts even when no path is newer", () => {
    const drafts = [{ key: "name_w", value: "Ad", base: 99 }];
    expect(decide(input({ drafts }))).toMatchObject({ type: "restore", changes: [], drafts });
  });

  it("sends a resync carrying the mirror's old revision when it is behind base", () => {
    expect(decide(input({ previousRevision: 10, base: 50, serverRevision: 60 }))).toEqual({
      v: 1,
      type: "resync",
      session_id: "s1",
      revision: 10,
    });
  });

  it("asks for the server's whole state (a resync from 0) until a render has listed it", () => {
    // The frame's first render is a run the user started: a delta past the page view,
    // against which a path the server lost in a crash cannot be told from one it has.
    const record = recordWith(set(EMAIL, "lost@x", 20));
    const first = input({ record, previousRevision: 20, base: 500, serverRevision: 510, compared: false });
    expect(decide(first)).toEqual({ v: 1, type: "resync", session_id: "s1", revision: 0 });
    expect(decide({ ...first, sent: new Set([messageKey("resync", 510)]) })).toBeNull();
    expect(decide(input({ base: 20, serverRevision: 20, compared: false }))?.revision).toBe(0);
  });

  it("prefers a restore over a resync", () => {
    const record = recordWith(set(EMAIL, "new@x", 90));
    expect(decide(input({ record, base: 50, serverRevision: 60 }))?.type).toBe("restore");
  });

  it("does not send the same message twice for one server revision", () => {
    const record = recordWith(set(EMAIL, "new@x", 40));
    const sent = new Set([messageKey("restore", 30), messageKey("resync", 60)]);
    expect(decide(input({ record, serverRevision: 30, sent }))).toBeNull();
    expect(decide(input({ base: 50, serverRevision: 60, sent }))).toBeNull();
    expect(decide(input({ record, serverRevision: 35, sent }))?.type).toBe("restore");
  });
});
