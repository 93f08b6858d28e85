import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it, vi } from "vitest";
import { cookieLine, Guard, type GuardDeps } from "../src/guard";
import { getSession, loadDrafts, openMirror, request, SESSIONS, writeBatch } from "../src/mirror";
import {
  parseArgs,
  SCHEMA_VERSION,
  type Change,
  type GuardArgs,
  type GuardMessage,
  type MirrorRecord,
} from "../src/protocol";
import { applyChanges, emptyRecord } from "../src/revisions";
import { isDraft, LIMITS, replacing } from "./vectors";

const SID = "a".repeat(64);
const NAME = ["forms", "contact", "name"] as const;
const EMAIL = ["forms", "contact", "email"] as const;

function args(over: Partial<GuardArgs> = {}): GuardArgs {
  return {
    v: 1,
    session_id: SID,
    revision: 100,
    base: 0,
    changes: [{ p: NAME, v: "Ada", r: 100 }],
    cookie: null,
    limits: { ...LIMITS, debounce_ms: 5 },
    drafts: { name_w: ["contact", "name"] },
    excluded: [],
    ack: null,
    ended: [],
    unsaved: null,
    ...over,
  };
}

interface Harness {
  guard: Guard;
  sent: GuardMessage[];
  warnings: string[];
  cookies: string[];
  writes: () => number;
  /** The durability of each read-write transaction, in order. */
  durabilities: string[];
  factory: IDBFactory;
  clock: { now: number };
}

function harness(factory = new IDBFactory(), over: Partial<GuardDeps> = {}): Harness {
  const sent: GuardMessage[] = [];
  const warnings: string[] = [];
  const cookies: string[] = [];
  const clock = { now: 1000 };
  let writes = 0;
  const durabilities: string[] = [];
  const guard = new Guard({
    send: (m) => sent.push(m),
    openDatabase: async () => {
      const db = await openMirror(factory);
      const transaction = db.transaction.bind(db);
      db.transaction = ((stores: string | string[], mode?: IDBTransactionMode, options?: IDBTransactionOptions) => {
        if (mode === "readwrite") {
          writes += 1;
          durabilities.push(options?.durability ?? "default");
        }
        return transaction(stores, mode, options);
      }) as IDBDatabase["transaction"];
      return db;
    },
    setCookie: (line) => cookies.push(line),
    getCookie: () => undefined,
    secure: false,
    now: () => clock.now,
    warn: (m) => warnings.push(m),
    ...over,
  });
  return { guard, sent, warnings, cookies, writes: () => writes, durabilities, factory, clock };
}

async function seed(factory: IDBFactory, changes: Change[], revision?: number): Promise<void> {
  const db = await openMirror(factory);
  const record = applyChanges(emptyRecord(SID), changes);
  await writeBatch(db, { session: replacing(revision === undefined ? record : { ...record, revision }) });
  db.close();
}

async function stored(factory: IDBFactory) {
  const db = await openMirror(factory);
  const [record, drafts] = [await getSession(db, SID), await loadDrafts(db, SID, isDraft, () => {})];
  db.close();
  return { record, drafts };
}

/** An app that stays busy: each `whenIdle` waits for an `idle()`; `asked()` resolves once one waits. */
function busyApp() {
  const waiting: Array<() => void> = [];
  let ask: (() => void) | undefined;
  return {
    whenIdle: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        ask?.();
      }),
    asked: () =>
      new Promise<void>((resolve) => {
        if (waiting.length > 0) resolve();
        else ask = resolve;
      }),
    idle: () => waiting.shift()?.(),
  };
}

describe("the guard", () => {
  it("sends nothing on a first render when the mirror is empty, and mirrors the server", async () => {
    const h = harness();
    await h.guard.render(args());
    await h.guard.flush();
    expect(h.sent).toEqual([]);
    const { record } = await stored(h.factory);
    expect(record).toMatchObject({ schema: SCHEMA_VERSION, revision: 100, forms: { contact: { name: "Ada" } } });
  });

  it("sends nothing after a reload when the mirror matches the server", async () => {
    const factory = new IDBFactory();
    await seed(factory, [{ p: NAME, v: "Ada", r: 100 }]);
    const h = harness(factory);
    await h.guard.render(args());
    await h.guard.flush();
    expect(h.sent).toEqual([]);
    expect(h.writes()).toBe(0);
  });

  it("restores only the paths the server lost after a reload", async () => {
    const factory = new IDBFactory();
    await seed(factory, [
      { p: NAME, v: "Ada", r: 100 },
      { p: EMAIL, v: "ada@x", r: 150 },
      { p: ["page"], v: "contact", r: 160 },
    ]);
    const h = harness(factory);
    await h.guard.render(args({ revision: 200 }));
    expect(h.sent).toEqual([
      {
        v: 1,
        seq: 1,
        type: "restore",
        session_id: SID,
        revision: 200,
        changes: [
          { p: EMAIL, v: "ada@x", r: 150 },
          { p: ["page"], v: "contact", r: 160 },
        ],
        drafts: [],
      },
    ]);
  });

  it("clamps a mirror revision planted a century ahead to the server's, so the next commit wins", async () => {
    const century = 100 * 365 * 24 * 3600 * 1000;
    const factory = new IDBFactory();
    await seed(factory, [{ p: NAME, v: "planted", r: 100 + century }]);
    const h = harness(factory);
    h.clock.now = 100 + 2 * century; // the browser's clock plays no part
    await h.guard.render(args());
    await h.guard.render(args({ base: 100, revision: 110, changes: [{ p: NAME, v: "Ada L", r: 110 }] }));
    await h.guard.flush();
    const record = (await stored(factory)).record as MirrorRecord;
    expect(record.forms).toEqual({ contact: { name: "Ada L" } });
    expect(Math.max(record.revision, ...Object.values(record.revs))).toBe(110);
  });

  it("sends back a path the server lost, though the server's revision is later", async () => {
    const factory = new IDBFactory();
    await seed(factory, [
      { p: NAME, v: "Ada", r: 100 },
      { p: EMAIL, v: "typed@x", r: 50 },
    ]);
    const h = harness(factory);
    await h.guard.render(args({ revision: 120 }));
    await h.guard.flush();
    expect(h.sent).toMatchObject([
      { type: "restore", seq: 1, changes: [{ p: EMAIL, v: "typed@x", r: 50 }], drafts: [] },
    ]);
    const { record } = await stored(factory);
    expect(record).toMatchObject({ revision: 120, forms: { contact: { name: "Ada", email: "typed@x" } } });
  });

  it("asks for a resync when a later render shows the mirror missed changes", async () => {
    const h = harness();
    await h.guard.render(args());
    await h.guard.render(args({ base: 150, revision: 200, changes: [{ p: EMAIL, v: "e", r: 200 }] }));
    expect(h.sent).toEqual([{ v: 1, seq: 1, type: "resync", session_id: SID, revision: 100 }]);
    await h.guard.render(args({ base: 100, revision: 200, changes: [{ p: EMAIL, v: "e", r: 200 }] }));
    expect(h.sent).toHaveLength(1);
    expect(h.guard.revision).toBe(200);
  });

  it("holds what a render decides to send while the app is busy: a rerun then would cut short the user's run", async () => {
    const factory = new IDBFactory();
    await seed(factory, [{ p: NAME, v: "Ada", r: 100 }]);
    const app = busyApp();
    const h = harness(factory, { whenIdle: app.whenIdle });
    // The frame loaded late: its first render is a run the user started, past the page view it missed.
    const rendered = h.guard.render(args({ base: 150, revision: 200, changes: [{ p: EMAIL, v: "e", r: 200 }] }));
    await app.asked();
    expect(h.sent).toEqual([]);
    app.idle();
    await rendered;
    expect(h.sent).toEqual([{ v: 1, seq: 1, type: "resync", session_id: SID, revision: 0 }]);
  });

  it("restores what the server lost when the frame's first render is a run the user started", async () => {
    // The server was killed inside its write-behind window: it holds name at 100, the
    // mirror at 150. The reload's page view moved it to 200, then the user picked a plan
    // (210) before the frame loaded, so the frame's first render is that run's delta.
    const PLAN = ["forms", "contact", "plan"] as const;
    const factory = new IDBFactory();
    await seed(factory, [
      { p: NAME, v: "Only in the browser", r: 150 },
      { p: PLAN, v: "pro", r: 140 },
    ]);
    const h = harness(factory);
    await h.guard.render(args({ base: 200, revision: 210, changes: [{ p: PLAN, v: "team", r: 210 }] }));
    expect(h.sent).toEqual([{ v: 1, seq: 1, type: "resync", session_id: SID, revision: 0 }]);
    const everything = [
      { p: NAME, v: "Written", r: 100 },
      { p: PLAN, v: "team", r: 210 },
    ];
    await h.guard.render(args({ base: 0, revision: 210, changes: everything }));
    expect(h.sent.slice(1)).toEqual([
      {
        v: 1,
        seq: 2,
        type: "restore",
        session_id: SID,
        revision: 210,
        changes: [{ p: NAME, v: "Only in the browser", r: 150 }],
        drafts: [],
      },
    ]);
  });

  it("offers drafts with the first comparison of the whole mirror, not with a first render that lists only a delta", async () => {
    const factory = new IDBFactory();
    await seed(factory, [{ p: NAME, v: "Ada", r: 100 }]);
    const db = await openMirror(factory);
    await writeBatch(db, { drafts: [{ session_id: SID, key: "name_w", value: "Ada Lov", base: 100, ts: 130 }] });
    db.close();
    const h = harness(factory);
    await h.guard.render(args({ base: 200, revision: 210, changes: [{ p: EMAIL, v: "e", r: 210 }] }));
    expect(h.sent).toEqual([{ v: 1, seq: 1, type: "resync", session_id: SID, revision: 0 }]);
    await h.guard.render(args({ base: 0, revision: 210, changes: [{ p: NAME, v: "Ada", r: 100 }, { p: EMAIL, v: "e", r: 210 }] }));
    expect(h.sent.slice(1)).toMatchObject([
      { type: "restore", seq: 2, changes: [], drafts: [{ key: "name_w", value: "Ada Lov", base: 100 }] },
    ]);
  });

  it("sends one message per idle moment, the next only once the app is idle again", async () => {
    const factory = new IDBFactory();
    await seed(factory, [{ p: EMAIL, v: "ada@x", r: 150 }]);
    const app = busyApp();
    const h = harness(factory, { whenIdle: app.whenIdle });
    void h.guard.render(args());
    await app.asked();
    h.guard.typed({ classList: [], parentElement: { classList: ["st-key-late_w"], parentElement: null } }, "f");
    app.idle();
    await vi.waitFor(() => expect(h.sent.map((m) => m.type)).toEqual(["restore"]));
    await app.asked(); // the resync waits for an idle moment of its own: the restore's rerun comes first
    expect(h.sent).toHaveLength(1);
    app.idle();
    await vi.waitFor(() => expect(h.sent.map((m) => m.type)).toEqual(["restore", "resync"]));
  });

  it("never sends the same message twice for one server revision", async () => {
    const factory = new IDBFactory();
    await seed(factory, [{ p: EMAIL, v: "ada@x", r: 150 }]);
    const h = harness(factory);
    await h.guard.render(args());
    await h.guard.render(args({ base: 100 }));
    await h.guard.render(args({ base: 100 }));
    expect(h.sent.map((m) => [m.type, m.seq])).toEqual([["restore", 1]]);
    await h.guard.render(args({ revision: 140, base: 0, changes: [] }));
    expect(h.sent.map((m) => [m.type, m.seq])).toEqual([
      ["restore", 1],
      ["restore", 2],
    ]);
  });

  it("applies renders that arrive while the database is still opening, in order", async () => {
    const h = harness();
    void h.guard.render(args());
    void h.guard.render(args({ base: 100, revision: 110, changes: [{ p: NAME, v: "Ada L", r: 110 }] }));
    await h.guard.render(args({ base: 110, revision: 120, changes: [{ p: EMAIL, v: "e", r: 120 }] }));
    await h.guard.flush();
    expect(h.sent).toEqual([]);
    expect((await stored(h.factory)).record).toMatchObject({
      revision: 120,
      forms: { contact: { name: "Ada L", email: "e" } },
    });
  });

  it("stores what the server sent at once and durably, without waiting for the debounce window", async () => {
    const h = harness();
    const slow = { ...LIMITS, debounce_ms: 10_000 };
    await h.guard.render(args({ limits: slow }));
    await h.guard.render(args({ base: 100, revision: 101, limits: slow, changes: [{ p: NAME, v: "Ada L", r: 101 }] }));
    await h.guard.flush(); // resolves once the writes under way have landed; nothing was pending
    expect(h.durabilities).toEqual(["strict", "strict"]);
    expect((await stored(h.factory)).record).toMatchObject({ revision: 101, forms: { contact: { name: "Ada L" } } });
  });

  it("leaves typing to the debounce window, then stores it in one relaxed write", async () => {
    const h = harness();
    await h.guard.render(args({ limits: { ...LIMITS, debounce_ms: 30 } }));
    await h.guard.flush();
    for (const value of ["A", "Ad", "Ada"]) h.guard.capture("name_w", value);
    expect(h.writes()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await h.guard.flush();
    expect(h.durabilities).toEqual(["strict", "relaxed"]);
    expect((await stored(h.factory)).drafts.map((d) => d.value)).toEqual(["Ada"]);
  });

  it("offers live drafts on the first render only, never stale ones", async () => {
    const factory = new IDBFactory();
    await seed(factory, [{ p: NAME, v: "Ada", r: 100 }]);
    const db = await openMirror(factory);
    await writeBatch(db, {
      drafts: [
        { session_id: SID, key: "name_w", value: "Ada Lov", base: 100, ts: 130 },
        { session_id: SID, key: "old_w", value: "stale", base: 90, ts: 90 },
      ],
    });
    db.close();
    const h = harness(factory);
    const drafts = { name_w: ["contact", "name"], old_w: ["contact", "old"] } as GuardArgs["drafts"];
    await h.guard.render(
      args({ drafts, changes: [{ p: NAME, v: "Ada", r: 100 }, { p: ["forms", "contact", "old"], v: "o", r: 95 }] }),
    );
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]).toMatchObject({
      type: "restore",
      changes: [],
      drafts: [{ key: "name_w", value: "Ada Lov", base: 100 }],
    });
    await h.guard.render(args({ base: 100, revision: 110, drafts, changes: [] }));
    expect(h.sent).toHaveLength(1);
    await h.guard.flush();
    expect((await stored(factory)).drafts.map((d) => d.key)).toEqual(["name_w"]);
  });

  it("stores captured typing as a draft and drops it once the value is committed", async () => {
    const h = harness();
    await h.guard.render(args());
    h.clock.now = 500;
    h.guard.capture("name_w", "Ada L");
    await h.guard.flush();
    expect((await stored(h.factory)).drafts).toEqual([
      { session_id: SID, key: "name_w", value: "Ada L", base: 100, ts: 500 },
    ]);
    await h.guard.render(args({ base: 100, revision: 500, changes: [{ p: NAME, v: "Ada L", r: 500 }] }));
    await h.guard.flush();
    expect((await stored(h.factory)).drafts).toEqual([]);
  });

  it("holds typing in a widget the server has not named in memory only, asking once for a rerun to name it", async () => {
    const h = harness();
    await h.guard.render(args());
    const typedIn = (cls: string) => ({ classList: [], parentElement: { classList: [cls], parentElement: null } });
    h.guard.typed(typedIn("st-key-late_w"), "first visit");
    h.guard.typed(typedIn("st-key-late_w"), "first visit typing");
    h.guard.typed(typedIn("st-key-search"), "never named");
    await h.guard.flush();
    expect((await stored(h.factory)).drafts).toEqual([]);
    expect(h.sent.map((m) => m.type)).toEqual(["resync", "resync"]);
    const drafts = { ...args().drafts, late_w: ["contact", "late"] } as GuardArgs["drafts"];
    await h.guard.render(args({ base: 100, changes: [], drafts }));
    await h.guard.flush();
    expect((await stored(h.factory)).drafts).toMatchObject([{ key: "late_w", value: "first visit typing", base: 0 }]);
  });

  it("asks for the rerun that names a typed-in widget only once the typing pauses", async () => {
    let pause = (): void => {};
    const typing = new Promise<void>((resolve) => {
      pause = resolve;
    });
    const h = harness(new IDBFactory(), { whenIdle: () => typing });
    await h.guard.render(args());
    h.guard.typed({ classList: [], parentElement: { classList: ["st-key-late_w"], parentElement: null } }, "f");
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(h.sent).toEqual([]); // a run now would push the widget's last value over the typing
    pause();
    await typing;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(h.sent.map((m) => m.type)).toEqual(["resync"]);
  });

  it("never holds typing inside a key the app excludes, named or not", async () => {
    const h = harness();
    await h.guard.render(args({ excluded: ["ssn"] }));
    const inside = { classList: ["st-key-name_w"], parentElement: { classList: ["st-key-ssn"], parentElement: null } };
    h.guard.typed(inside, "123-45");
    await h.guard.flush();
    expect((await stored(h.factory)).drafts).toEqual([]);
    expect(h.sent).toEqual([]);
  });

  it("orders a draft by the server revision it was typed over, whatever the browser's clock says", async () => {
    for (const skew of [-3_600_000, 3_600_000]) {
      const factory = new IDBFactory();
      const typing = harness(factory);
      await typing.guard.render(args());
      typing.clock.now = 1_000_000_000 + skew;
      typing.guard.capture("name_w", "Ada Lov");
      await typing.guard.flush();
      const reloaded = harness(factory);
      await reloaded.guard.render(args());
      expect(reloaded.sent).toMatchObject([{ type: "restore", drafts: [{ key: "name_w", base: 100 }] }]);
      // The field was committed elsewhere after the typing: the draft is stale, whatever its clock.
      const later = harness(factory);
      await later.guard.render(args({ revision: 120, changes: [{ p: NAME, v: "Ada", r: 120 }] }));
      expect(later.sent).toEqual([]);
    }
  });

  it("keeps another tab's newer paths when writing its own copy of the record", async () => {
    const factory = new IDBFactory();
    const first = harness(factory);
    const second = harness(factory);
    await first.guard.render(args());
    await second.guard.render(args());
    await second.guard.render(args({ base: 100, revision: 200, changes: [{ p: EMAIL, v: "b@x", r: 200 }] }));
    await second.guard.flush();
    await first.guard.render(args({ base: 100, revision: 150, changes: [{ p: NAME, v: "A", r: 150 }] }));
    await first.guard.flush();
    const { record } = await stored(factory);
    expect(record).toMatchObject({ forms: { contact: { name: "A", email: "b@x" } } });
  });

  it("asks for a rerun when another tab saw the server further ahead, once per revision", async () => {
    const announced: Array<[string, number]> = [];
    const h = harness(undefined, { announce: (sid: string, rev: number) => announced.push([sid, rev]) });
    await h.guard.render(args());
    expect(announced).toEqual([[SID, 100]]);
    await h.guard.nudge(SID, 100);
    await h.guard.nudge("another session", 900);
    expect(h.sent).toEqual([]);
    await h.guard.nudge(SID, 300);
    await h.guard.nudge(SID, 400);
    expect(h.sent).toEqual([{ v: 1, seq: 1, type: "resync", session_id: SID, revision: 100 }]);
  });

  it("asks again when the rerun it asked for was rendered before the peer's edit", async () => {
    const h = harness();
    await h.guard.render(args());
    await h.guard.nudge(SID, 300);
    await h.guard.nudge(SID, 400);
    await h.guard.render(args({ base: 100, revision: 300, changes: [] }));
    expect(h.sent.map((m) => m.type)).toEqual(["resync", "resync"]);
    await h.guard.render(args({ base: 300, revision: 400, changes: [] }));
    expect(h.sent).toHaveLength(2);
  });

  it("catches up with another tab after a resync of its own at the same server revision", async () => {
    const h = harness();
    await h.guard.render(args());
    // A render it never got (Streamlit drops a run's unsent output when the next run starts):
    // the mirror is behind the base, so it asks for a resync at server revision 300.
    await h.guard.render(args({ base: 200, revision: 300, changes: [] }));
    await h.guard.render(args({ base: 100, revision: 300, changes: [{ p: EMAIL, v: "b@x", r: 300 }] }));
    expect(h.sent.map((m) => m.type)).toEqual(["resync"]);
    await h.guard.nudge(SID, 400);
    expect(h.sent.map((m) => m.type)).toEqual(["resync", "resync"]);
  });

  it("deletes a stored record of another schema with one warning and starts afresh", async () => {
    const factory = new IDBFactory();
    const db = await openMirror(factory);
    const tx = db.transaction(SESSIONS, "readwrite");
    tx.objectStore(SESSIONS).put({ schema: 99, session_id: SID, revision: 10 ** 15 }, SID);
    await request(tx);
    db.close();
    const h = harness(factory);
    await h.guard.render(args());
    expect(h.warnings).toHaveLength(1);
    expect(h.warnings[0]).toMatch(/^st-session-guard: .*schema 99/);
    expect(h.sent).toEqual([]);
    expect(h.guard.revision).toBe(100);
  });

  it("runs without storage when IndexedDB is missing: one warning, no messages", async () => {
    const h = harness(undefined, { openDatabase: () => openMirror(undefined) });
    await h.guard.render(args());
    await h.guard.render(args({ base: 500, revision: 600 }));
    h.guard.capture("name_w", "x");
    await h.guard.flush();
    expect(h.warnings).toHaveLength(1);
    expect(h.warnings[0]).toMatch(/^st-session-guard: /);
    expect(h.sent).toEqual([]);
    expect(h.guard.revision).toBe(100);
    expect(await h.guard.dump()).toBeUndefined();
  });

  it("gives up on a database that never opens", async () => {
    const h = harness(undefined, { openDatabase: () => new Promise(() => {}), openTimeoutMs: 10 });
    await h.guard.render(args());
    expect(h.warnings).toEqual([expect.stringMatching(/did not open/)]);
  });

  it("stops using the mirror after a quota error, with one warning", async () => {
    const factory = new IDBFactory();
    let db: IDBDatabase | undefined;
    const h = harness(factory, {
      openDatabase: async () => (db = await openMirror(factory)),
    });
    await h.guard.render(args());
    db!.transaction = () => {
      throw new DOMException("disk full", "QuotaExceededError");
    };
    await h.guard.render(args({ base: 100, revision: 110, changes: [{ p: NAME, v: "b", r: 110 }] }));
    await h.guard.flush();
    await h.guard.render(args({ base: 500, revision: 600, changes: [] }));
    await h.guard.flush();
    expect(h.warnings).toEqual([expect.stringMatching(/^st-session-guard: .*QuotaExceededError/)]);
    expect(h.sent).toEqual([]);
  });

  it("writes the session cookie whenever the server asks, Secure on https", async () => {
    const h = harness(undefined, { secure: true });
    await h.guard.render(args({ cookie: { name: "stsg", value: "tok.en-1", max_age: 86400 } }));
    await h.guard.render(args());
    expect(h.cookies).toEqual(["stsg=tok.en-1; path=/; max-age=86400; SameSite=Lax; Secure"]);
  });

  it("exposes dump and clear, and a cleared mirror asks to be filled again", async () => {
    const h = harness();
    await h.guard.render(args());
    expect(await h.guard.dump()).toMatchObject({ session_id: SID, revision: 100 });
    await h.guard.clear();
    expect(await h.guard.dump()).toBeUndefined();
    expect(h.guard.revision).toBe(0);
    await h.guard.render(args({ base: 100, revision: 110, changes: [] }));
    expect(h.sent).toEqual([{ v: 1, seq: 1, type: "resync", session_id: SID, revision: 0 }]);
  });
});

describe("render args and cookies", () => {
  it("warns once about unreadable args and otherwise ignores them", async () => {
    const h = harness();
    await h.guard.render({ v: 2, session_id: SID });
    await h.guard.render(null);
    expect(h.warnings).toHaveLength(1);
    expect(h.sent).toEqual([]);
    expect(h.guard.revision).toBe(0);
  });


  it("ignores args of another protocol version or without a session id", () => {
    expect(parseArgs({ ...args(), v: 2 })).toBeUndefined();
    expect(parseArgs({ ...args(), session_id: "" })).toBeUndefined();
    expect(parseArgs("nope")).toBeUndefined();
    const { limits: _, ...withoutLimits } = args();
    expect(parseArgs(withoutLimits)).toBeUndefined();
  });

  it("fills in defaults for missing optional fields", () => {
    expect(parseArgs({ v: 1, session_id: SID, limits: LIMITS })).toEqual({
      v: 1,
      session_id: SID,
      revision: 0,
      base: 0,
      changes: [],
      cookie: null,
      limits: LIMITS,
      drafts: {},
      excluded: [],
      ack: null,
      ended: [],
      unsaved: null,
    });
  });

  it("writes a plain cookie without Secure on http", () => {
    expect(cookieLine({ name: "stsg", value: "v", max_age: 60 }, false)).toBe(
      "stsg=v; path=/; max-age=60; SameSite=Lax",
    );
  });

  it("refuses cookie values that could inject attributes", () => {
    expect(cookieLine({ name: "stsg", value: "v; Domain=evil", max_age: 60 }, false)).toBeUndefined();
    expect(cookieLine({ name: "a=b", value: "v", max_age: 60 }, false)).toBeUndefined();
  });
});

describe("sessions that end", () => {
  const NEXT = "b".repeat(64);
  const OTHER = "c".repeat(64);
  const cookie = (id: string) => ({ name: "stsg", value: `${id}.1700000000.sig`, max_age: 60 });

  /** A guard whose browser cookie jar is `jar`, as the tabs of one browser share it. */
  function tab(jar: { value: string | undefined }, factory = new IDBFactory(), over: Partial<GuardDeps> = {}) {
    const ended: string[][] = [];
    const h = harness(factory, {
      getCookie: () => jar.value,
      setCookie: (line) => {
        h.cookies.push(line);
        jar.value = line.split(";")[0]?.split("=")[1];
      },
      announceEnded: (ids) => ended.push([...ids]),
      ...over,
    });
    return { ...h, ended };
  }

  async function seedDraft(factory: IDBFactory): Promise<void> {
    await seed(factory, [{ p: NAME, v: "Ada", r: 100 }]);
    const db = await openMirror(factory);
    await writeBatch(db, { drafts: [{ session_id: SID, key: "name_w", value: "Ada Lov", base: 100, ts: 130 }] });
    db.close();
  }

  it("deletes an ended session's mirror and drafts durably, writes the new cookie and tells the other tabs", async () => {
    const factory = new IDBFactory();
    await seedDraft(factory);
    const jar: { value: string | undefined } = { value: cookie(SID).value };
    const h = tab(jar, factory);
    await h.guard.render(args({ session_id: NEXT, ended: [SID], cookie: cookie(NEXT), changes: [] }));
    await h.guard.flush();
    const { record, drafts } = await stored(factory);
    expect(record).toBeUndefined();
    expect(drafts).toEqual([]);
    expect(h.ended).toEqual([[SID]]);
    expect(jar.value).toBe(cookie(NEXT).value);
    expect(h.durabilities[0]).toBe("strict");
  });

  it("follows the cookie another tab wrote instead of writing back its own when its session ended", async () => {
    const jar: { value: string | undefined } = { value: cookie(SID).value };
    const h = tab(jar);
    await h.guard.render(args({ cookie: cookie(SID) }));
    jar.value = cookie(NEXT).value; // another tab logged in
    await h.guard.render(args({ session_id: OTHER, ended: [SID], cookie: cookie(OTHER), changes: [] }));
    expect(jar.value).toBe(cookie(NEXT).value);
    expect(h.sent).toEqual([
      { v: 1, seq: 1, type: "follow", session_id: OTHER, revision: 0, token: cookie(NEXT).value },
    ]);
  });

  it("hearing that its session ended, deletes its mirror, follows the browser's cookie and never writes the old one", async () => {
    const factory = new IDBFactory();
    const jar: { value: string | undefined } = { value: cookie(SID).value };
    const h = tab(jar, factory);
    await h.guard.render(args({ cookie: cookie(SID) }));
    await h.guard.flush();
    jar.value = cookie(NEXT).value;
    await h.guard.peerEnded([SID]);
    expect((await stored(factory)).record).toBeUndefined();
    expect(h.sent).toEqual([
      { v: 1, seq: 1, type: "follow", session_id: SID, revision: 0, token: cookie(NEXT).value },
    ]);
    expect(h.ended).toEqual([]); // news from a peer is not sent round again
    const cookiesBefore = h.cookies.length;
    await h.guard.render(args({ cookie: cookie(SID), revision: 200, changes: [{ p: NAME, v: "late", r: 200 }] }));
    await h.guard.flush();
    expect(h.cookies).toHaveLength(cookiesBefore);
    expect(jar.value).toBe(cookie(NEXT).value);
    expect((await stored(factory)).record).toBeUndefined();
  });

  it("asks its server for a rerun when its session ended and no live session's cookie is left to follow", async () => {
    const jar: { value: string | undefined } = { value: cookie(SID).value };
    const h = tab(jar);
    await h.guard.render(args({ cookie: cookie(SID) }));
    await h.guard.peerEnded([SID]);
    expect(h.sent).toEqual([{ v: 1, seq: 1, type: "resync", session_id: SID, revision: 0 }]);
  });

  it("asks for nothing while the app is busy: a rerun then would cut short the run of a click", async () => {
    let idle = (): void => {};
    const busy = new Promise<void>((resolve) => {
      idle = resolve;
    });
    const jar: { value: string | undefined } = { value: cookie(SID).value };
    const h = tab(jar, new IDBFactory(), { whenIdle: () => busy });
    await h.guard.render(args({ cookie: cookie(SID) }));
    jar.value = cookie(NEXT).value;
    const heard = h.guard.peerEnded([SID]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(h.sent).toEqual([]);
    idle();
    await heard;
    expect(h.sent).toMatchObject([{ type: "follow" }]);
  });
});
