// The component's state machine, kept apart from the browser globals so it can
// be driven in tests: it takes render args, keeps the mirror in memory,
// persists it (what the server sent at once, typing debounced) and decides
// what, if anything, goes back to Python.

import { debounce, type Debouncer } from "./debounce";
import {
  classesOf,
  committedDrafts,
  draftKeyOf,
  type ElementLike,
  keyClass,
  keyedClassOf,
  liveDrafts,
  pathRevision,
  type DraftPaths,
} from "./drafts";
import {
  clearSession,
  getSession,
  loadDrafts,
  loadSession,
  writeBatch,
  type Batch,
  type DraftKey,
  type Durability,
  type RecordPolicy,
} from "./mirror";
import {
  PROTOCOL_VERSION,
  isDraftRecord,
  isObject,
  isRevision,
  parseArgs,
  readMessage,
  recordProblem,
  upgradeRecord,
  type CookieArgs,
  type DraftRecord,
  type FollowMessage,
  type GuardArgs,
  type GuardMessage,
  type Limits,
  type MirrorRecord,
  type UnsavedArgs,
} from "./protocol";
import {
  applyArgs,
  clampRevisions,
  decide,
  emptyRecord,
  type Outgoing,
  listedRevisions,
  mergeRecords,
  messageKey,
} from "./revisions";
import { trimUndo } from "./trim";
import { unsavedSession, unsavedValue } from "./unsaved";

export interface GuardDeps {
  /** Hands a message to Python; each one costs a rerun. */
  send(message: GuardMessage): void;
  /** Opens the mirror database; rejects when the browser has no usable IndexedDB. */
  openDatabase(): Promise<IDBDatabase>;
  setCookie(line: string): void;
  /** The value of the browser's cookie `name` now, which another tab may have written. */
  getCookie(name: string): string | undefined;
  /** Whether the app is served over https (cookies then get `Secure`). */
  secure: boolean;
  now(): number;
  warn(message: string): void;
  /** Tells the session's other tabs that the server reached `revision`. */
  announce?(sessionId: string, revision: number): void;
  /** Tells the browser's other tabs that these sessions ended. */
  announceEnded?(sessionIds: readonly string[]): void;
  /**
   * Resolves when a rerun asked for now would interrupt nothing of the user's
   * (the app's script is not running and no click or key is on its way): a
   * run cut short by another rerun loses the button click that started it,
   * or the reply a chat message was streaming. Every message waits for it.
   */
  whenIdle?(): Promise<void>;
  /** How long to wait for IndexedDB to open; some browsers never answer. */
  openTimeoutMs?: number;
}

/** A message before `post` numbers it. */
type Unsent = Outgoing | Omit<FollowMessage, "seq">;

// RFC 6265 token and cookie-octet: anything else could smuggle in attributes.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/** The `document.cookie` assignment for the session cookie, or undefined if unsafe. */
export function cookieLine(cookie: CookieArgs, secure: boolean): string | undefined {
  if (!COOKIE_NAME.test(cookie.name) || !COOKIE_VALUE.test(cookie.value)) return undefined;
  const line = `${cookie.name}=${cookie.value}; path=/; max-age=${Math.floor(cookie.max_age)}; SameSite=Lax`;
  return secure ? `${line}; Secure` : line;
}

/** The session id a cookie token names (`<session id>.<issued at>.<signature>`). */
export function tokenSession(token: string): string {
  return token.split(".", 1)[0] as string;
}

/** How a stored record of `sessionId` is read under the server's bounds. */
export function recordPolicy(sessionId: string, limits: Limits): RecordPolicy {
  return {
    upgrade: (value) => upgradeRecord(value, limits),
    problem: (value) => recordProblem(value, sessionId, limits),
    trim: (value) => trimUndo(value, sessionId, limits),
  };
}

/**
 * Writes `ours` over whatever the session's record holds. Another tab of the
 * session may have stored newer paths since this tab read it: those are
 * merged in, never overwritten; a stored value that
 * cannot be read is replaced.
 */
export function storeOver(ours: MirrorRecord, limits: Limits): NonNullable<Batch["session"]> {
  const policy = recordPolicy(ours.session_id, limits);
  return {
    id: ours.session_id,
    update: (stored) => {
      const theirs = policy.upgrade(stored);
      if (policy.problem(theirs) !== undefined) return ours;
      return mergeRecords(clampRevisions(theirs as MirrorRecord, ours.revision), ours);
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof Error || (isObject(error) && typeof error.name === "string")) {
    const { name, message } = error as { name: string; message?: unknown };
    return typeof message === "string" && message !== "" ? `${name}: ${message}` : name;
  }
  return String(error);
}

export class Guard {
  private record: MirrorRecord | undefined;
  private database: Promise<IDBDatabase | undefined> | undefined;
  private storage: "opening" | "on" | "off" = "opening";
  private drafts = new Map<string, DraftRecord>();
  private draftPaths: DraftPaths = {};
  private draftClasses: ReadonlyMap<string, string> = new Map();
  private excludedClasses: ReadonlySet<string> = new Set();
  /** Container class -> typing in a keyed widget the server has not named (yet); memory only. */
  private readonly unnamed = new Map<string, string>();
  private readonly askedToName = new Set<string>();
  private draftPuts = new Set<string>();
  private draftDrops: DraftKey[] = [];
  private recordDirty = false;
  private readonly sent = new Set<string>();
  private seq = 0;
  private serverRevision = 0;
  /** The furthest revision another tab of this session has seen the server at. */
  private peerRevision = 0;
  /** Whether a render of this page load has listed the server's whole state (base 0); see decide. */
  private compared = false;
  private warnedArgs = false;
  /** The server's bounds, from the latest usable args. */
  private limits: Limits | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Messages waiting for the app to be idle, sent one at a time (see sendWhenIdle). */
  private outbox: Promise<void> = Promise.resolve();
  /** What the latest renders decided to send and is not sent yet (see process). */
  private decided: Outgoing | undefined;
  private readonly writes: Debouncer;
  /** Sessions that ended (logout, login, or ended elsewhere): never mirrored or named in the cookie again. */
  private readonly ended = new Set<string>();
  private cookieName: string | undefined;
  /** The unsaved-changes cookie as the latest args that name it describe it, with the bounds and lifetime. */
  private unsaved: { spec: UnsavedArgs; limits: Limits; maxAge: number } | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: GuardDeps) {
    this.writes = debounce(
      () => {
        this.keepUnsaved();
        return this.write("relaxed");
      },
      () => this.limits?.debounce_ms ?? 0,
    );
  }

  /** The mirror's revision in memory (0 before the first render). */
  get revision(): number {
    return this.record?.revision ?? 0;
  }

  /**
   * Takes typing in the app's page. In a widget the server named it is a
   * draft. In another keyed container (not excluded) it is held in memory
   * only, never stored, and one rerun is asked for: the server names a
   * page's wrapped widgets from the run after the one that drew them, so a
   * first visit's typing becomes a draft once the next render names it.
   */
  typed(el: ElementLike, value: string): void {
    const key = draftKeyOf(el, this.draftClasses, this.excludedClasses);
    if (key !== undefined) {
      this.capture(key, value);
      return;
    }
    const record = this.record;
    const cls = keyedClassOf(el, this.excludedClasses);
    if (cls === undefined || record === undefined || this.storage === "off") return;
    this.unnamed.set(cls, value);
    if (this.askedToName.has(cls)) return;
    this.askedToName.add(cls);
    // Once the typing pauses: a run while the user types would write the value its
    // server last pushed into the widget over what they are typing.
    void this.queue.then(() =>
      this.sendWhenIdle(() =>
        this.record?.session_id !== record.session_id
          ? undefined
          : { v: PROTOCOL_VERSION, type: "resync", session_id: record.session_id, revision: record.revision },
      ),
    );
  }

  /**
   * Takes one render's args. The cookie is written at once, unless it names
   * a session that ended or another tab has moved the browser on to a live
   * session since this tab's ended (then this tab follows that one). The
   * rest is queued so that renders arriving while IndexedDB is still opening
   * are applied in order. Resolves when this render has been processed.
   */
  render(raw: unknown): Promise<void> {
    const args = parseArgs(raw);
    if (args === undefined) {
      if (!this.warnedArgs) this.deps.warn("st-session-guard: ignoring render args it cannot read");
      this.warnedArgs = true;
      return this.queue;
    }
    const ended = args.ended.filter((id) => !this.ended.has(id));
    for (const id of ended) this.ended.add(id);
    this.limits = args.limits;
    const stale = this.ended.has(args.session_id);
    const follow = stale ? undefined : this.jarToFollow(args);
    if (args.unsaved !== null && args.cookie !== null) {
      this.unsaved = { spec: args.unsaved, limits: args.limits, maxAge: args.cookie.max_age };
    }
    if (args.cookie !== null && !stale && follow === undefined) {
      this.cookieName = args.cookie.name;
      const line = cookieLine(args.cookie, this.deps.secure);
      if (line !== undefined) this.deps.setCookie(line);
      else this.deps.warn("st-session-guard: refusing a cookie with unsafe characters");
    }
    if (!stale) {
      this.draftPaths = args.drafts;
      this.draftClasses = classesOf(args.drafts);
      this.excludedClasses = new Set(args.excluded.map(keyClass));
    }
    this.queue = this.queue
      .then(async () => {
        await this.forget(ended, true);
        if (stale) return;
        if (follow !== undefined) this.follow(args.session_id, follow);
        else await this.process(args);
      })
      .catch((error: unknown) => this.deps.warn(`st-session-guard: ${describe(error)}`));
    return this.processed();
  }

  /** Resolves once what is queued has been processed and what it decided to send has been sent. */
  private processed(): Promise<void> {
    return this.queue.then(() => this.outbox);
  }

  /**
   * The cookie token to follow instead of writing this render's cookie: when
   * the tab's previous session ended and the browser's cookie already names
   * another session that has not ended, another tab moved the browser on
   * (a login or logout there) and writing this tab's cookie would undo it.
   */
  private jarToFollow(args: GuardArgs): string | undefined {
    if (args.ended.length === 0 || args.cookie === null) return undefined;
    const token = this.deps.getCookie(args.cookie.name);
    if (token === undefined || token === args.cookie.value) return undefined;
    const named = tokenSession(token);
    return named === args.session_id || this.ended.has(named) ? undefined : token;
  }

  /** Asks the server to move this tab to the session `token` names, once per session named. */
  private follow(sessionId: string, token: string): void {
    const key = `follow:${tokenSession(token)}`;
    if (this.sent.has(key)) return;
    this.sent.add(key);
    this.sendWhenIdle(() => ({ v: PROTOCOL_VERSION, type: "follow", session_id: sessionId, revision: 0, token }));
  }

  /**
   * Another tab says these sessions ended. Their mirror and drafts go; if
   * this tab was on one of them, it follows the browser's cookie, or (with no
   * cookie to follow) asks for a rerun so its server tells it what is left.
   */
  peerEnded(raw: unknown): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (!Array.isArray(raw)) return;
      const ids = raw.filter((id): id is string => typeof id === "string" && id !== "" && !this.ended.has(id));
      const current = this.record?.session_id;
      for (const id of ids) this.ended.add(id);
      await this.forget(ids, false);
      if (current === undefined || !ids.includes(current)) return;
      const token = this.cookieName === undefined ? undefined : this.deps.getCookie(this.cookieName);
      if (token !== undefined && !this.ended.has(tokenSession(token))) {
        this.follow(current, token);
        return;
      }
      this.sendWhenIdle(() => ({ v: PROTOCOL_VERSION, type: "resync", session_id: current, revision: 0 }));
    });
    return this.processed();
  }

  /**
   * Deletes the mirror and drafts of sessions that ended, durably, dropping
   * this tab's unwritten copy of them first; `announce` tells the other tabs.
   */
  private async forget(ids: readonly string[], announce: boolean): Promise<void> {
    if (ids.length === 0) return;
    if (this.record !== undefined && ids.includes(this.record.session_id)) {
      this.writes.cancel();
      this.recordDirty = false;
      this.draftPuts.clear();
      this.draftDrops = [];
      this.drafts.clear();
      this.unnamed.clear();
      this.record = undefined;
    }
    this.dropUnsaved(ids);
    if (announce) this.deps.announceEnded?.(ids);
    const db = await this.open();
    if (db === undefined || this.storage !== "on") return;
    try {
      for (const id of ids) await clearSession(db, id);
    } catch (error) {
      this.disable(error);
    }
  }

  /** Records typing in a captured widget (a no-op without storage). */
  capture(key: string, value: string): void {
    if (this.storage === "off" || this.record === undefined) return;
    const base = pathRevision(this.record, this.draftPaths, key);
    if (base === undefined) return;
    const draft = { session_id: this.record.session_id, key, value, base, ts: this.deps.now() };
    this.drafts.set(key, draft);
    this.draftPuts.add(key);
    this.writes.schedule();
  }

  /**
   * Another tab of this session saw the server at `revision`. If that is
   * ahead of what this tab was rendered with, ask for a rerun (a resync from
   * the mirror's revision) so this tab shows the other's edits.
   */
  nudge(sessionId: unknown, revision: unknown): Promise<void> {
    this.queue = this.queue.then(() => {
      if (this.record?.session_id !== sessionId || !isRevision(revision)) return;
      this.peerRevision = Math.max(this.peerRevision, revision);
      this.catchUp();
    });
    return this.processed();
  }

  /**
   * Asks for a rerun while a peer is ahead. At most once per revision this
   * tab was rendered with: a rerun already asked for may have read the
   * session before the peer's edit, so the next render asks again.
   */
  private catchUp(): void {
    const record = this.record;
    if (record === undefined || this.peerRevision <= this.serverRevision) return;
    const key = messageKey("catchup", this.serverRevision);
    if (this.sent.has(key)) return;
    this.sent.add(key);
    this.sendWhenIdle(() =>
      // A render may have caught up, or the session ended, while the app was busy.
      this.record !== record || this.peerRevision <= this.serverRevision
        ? undefined
        : { v: PROTOCOL_VERSION, type: "resync", session_id: record.session_id, revision: record.revision },
    );
  }

  /**
   * Sends what `message` gives (nothing when it gives undefined) once the app
   * is idle, after the messages queued before it. Never at once: a rerun
   * asked for while a run the user started is on cuts that run short. One
   * message per idle moment, since the next waits for the app to be idle again;
   * `message` is asked only then, so it can see what changed meanwhile.
   */
  private sendWhenIdle(message: () => Unsent | undefined): void {
    this.outbox = this.outbox
      .then(() => this.deps.whenIdle?.())
      .then(() => {
        const out = message();
        if (out !== undefined) this.post(out);
      })
      .catch((error: unknown) => this.deps.warn(`st-session-guard: ${describe(error)}`));
  }

  /** Sends a message with the next `seq`, unless the server would refuse it (a rerun for nothing). */
  private post(message: Unsent): void {
    const limits = this.limits;
    const out = { ...message, seq: this.seq + 1 } as GuardMessage;
    if (limits === undefined || readMessage(out, out.session_id, this.seq, limits) === undefined) {
      this.deps.warn("st-session-guard: not sending a message the server would refuse");
      return;
    }
    this.seq += 1;
    this.deps.send(out);
  }

  /** Writes whatever is pending now, durably; for pagehide and hidden tabs. Resolves once all writes landed. */
  flush(): Promise<void> {
    if (!this.writes.pending) return this.writing;
    this.writes.cancel();
    this.keepUnsaved();
    return this.write("strict");
  }

  /** The stored record of the current session, after pending writes. */
  async dump(): Promise<MirrorRecord | undefined> {
    if (this.record === undefined) return undefined;
    await this.flush();
    const db = await this.open();
    if (db === undefined || this.storage !== "on") return undefined;
    return (await getSession(db, this.record.session_id)) as MirrorRecord | undefined;
  }

  /**
   * Forgets the current session's mirror and drafts. The next render then
   * finds the mirror behind and asks the server for everything again.
   */
  async clear(): Promise<void> {
    if (this.record === undefined) return;
    this.writes.cancel();
    this.recordDirty = false;
    this.draftPuts.clear();
    this.draftDrops = [];
    this.drafts.clear();
    this.record = emptyRecord(this.record.session_id);
    const db = await this.open();
    if (db === undefined || this.storage !== "on") return;
    try {
      await clearSession(db, this.record.session_id);
    } catch (error) {
      this.disable(error);
    }
  }

  private async process(args: GuardArgs): Promise<void> {
    if (this.record?.session_id !== args.session_id) await this.load(args.session_id, args.limits);
    const record = this.record as MirrorRecord;
    const next = applyArgs(record, args);
    const listed = args.base === 0 ? listedRevisions(args.changes) : null;
    const compared = this.compared;
    // Drafts go with the first comparison of the whole mirror, never later.
    const drafts = listed !== null && !compared ? liveDrafts(this.drafts.values(), args.drafts, next) : [];
    if (listed !== null) this.compared = true;
    if (next !== record) {
      this.record = next;
      this.recordDirty = true;
      // What the server sent is on the page now: stored at once, never left to a timer.
      if (this.storage !== "off") void this.write("strict");
    }
    this.keepUnsaved();
    for (const [cls, value] of this.unnamed) {
      const key = this.draftClasses.get(cls);
      if (key === undefined) continue;
      this.unnamed.delete(cls);
      this.capture(key, value);
    }
    for (const key of committedDrafts(this.drafts.values(), args.drafts, next)) this.dropDraft(key);
    // Typing in a keyed widget the server does not name is not a wrapped
    // widget's draft: it goes at the first render that could have named it.
    for (const key of [...this.drafts.keys()]) if (!Object.hasOwn(args.drafts, key)) this.dropDraft(key);
    // Without a mirror there is nothing trustworthy to restore or resync from.
    if (this.storage !== "on") return;
    if (args.revision > this.serverRevision) {
      this.serverRevision = args.revision;
      this.deps.announce?.(args.session_id, args.revision);
    }
    const out = decide({
      record: next,
      previousRevision: record.revision,
      serverRevision: args.revision,
      listed,
      base: args.base,
      drafts,
      compared,
      sent: this.sent,
    });
    if (out === null) {
      this.catchUp();
      return;
    }
    this.sent.add(messageKey(out.type, args.revision));
    // Renders go on while the message waits: the latest decision is sent, but a
    // restore is never dropped for a resync (the restore's rerun brings the next
    // render, which asks for the resync again if the mirror is still behind).
    const waiting = this.decided !== undefined;
    if (this.decided?.type !== "restore" || out.type === "restore") this.decided = out;
    if (waiting) return;
    this.sendWhenIdle(() => {
      const decided = this.decided;
      this.decided = undefined;
      return decided?.session_id === this.record?.session_id ? decided : undefined;
    });
  }

  /**
   * Keeps the record's changes the database may not hold yet, and the live
   * drafts, in their cookie, or removes it once nothing is unsaved. After
   * each render and each pause in typing. Whatever the mirror does: without
   * IndexedDB the cookie still carries the changes.
   */
  private keepUnsaved(): void {
    const record = this.record;
    const from = this.unsaved;
    if (record === undefined || from === undefined) return;
    const drafts = liveDrafts(this.drafts.values(), this.draftPaths, record);
    const value = unsavedValue(record, from.spec, from.limits, drafts) ?? "";
    // One left by a session this browser has left behind goes too: nothing reads it.
    if (value !== (this.deps.getCookie(from.spec.name) ?? "")) this.writeUnsaved(value);
  }

  /** Removes the unsaved-changes cookie if it belongs to one of `ids`. */
  private dropUnsaved(ids: readonly string[]): void {
    const name = this.unsaved?.spec.name;
    const current = name === undefined ? undefined : this.deps.getCookie(name);
    if (current !== undefined && ids.includes(unsavedSession(current))) this.writeUnsaved("");
  }

  /** Writes the unsaved-changes cookie; the empty value removes it. */
  private writeUnsaved(value: string): void {
    const cookie = this.unsaved;
    if (cookie === undefined) return;
    const line = cookieLine({ name: cookie.spec.name, value, max_age: value === "" ? 0 : cookie.maxAge }, this.deps.secure);
    if (line !== undefined) this.deps.setCookie(line);
  }

  /** Switches to a session: its stored record (if valid) and drafts become the mirror. */
  private async load(sessionId: string, limits: Limits): Promise<void> {
    // A pending write belongs to the previous session; let it land under its own id.
    if (this.record !== undefined) await this.flush();
    this.record = emptyRecord(sessionId);
    this.drafts = new Map();
    const db = await this.open();
    if (db === undefined) return;
    try {
      const warn = (message: string): void => this.deps.warn(message);
      const [stored, drafts] = await Promise.all([
        loadSession(db, sessionId, recordPolicy(sessionId, limits), warn),
        loadDrafts(db, sessionId, (v, k): v is DraftRecord => isDraftRecord(v, k, limits), warn),
      ]);
      if (stored !== undefined) this.record = stored;
      // Typing captured while the database was opening is newer than what it held.
      for (const draft of drafts) {
        const typed = this.drafts.get(draft.key);
        if (typed === undefined || typed.ts < draft.ts) this.drafts.set(draft.key, draft);
      }
    } catch (error) {
      this.disable(error);
    }
  }

  private open(): Promise<IDBDatabase | undefined> {
    this.database ??= this.openWithTimeout().then(
      (db) => {
        if (this.storage === "opening") this.storage = "on";
        return db;
      },
      (error: unknown) => {
        this.disable(error);
        return undefined;
      },
    );
    return this.database;
  }

  private openWithTimeout(): Promise<IDBDatabase> {
    const ms = this.deps.openTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new Error(`IndexedDB did not open within ${ms} ms`));
      }, ms);
      this.deps.openDatabase().then(
        (db) => {
          clearTimeout(timer);
          if (late) db.close();
          else resolve(db);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private dropDraft(key: string): void {
    const draft = this.drafts.get(key);
    if (draft === undefined) return;
    this.drafts.delete(key);
    this.draftPuts.delete(key);
    this.draftDrops.push([draft.session_id, draft.key]);
    if (this.storage !== "off") this.writes.schedule();
  }

  /** Writes what is pending, after the writes already under way, so they land in order. */
  private write(durability: Durability): Promise<void> {
    this.writing = this.writing.then(() => this.writePending(durability));
    return this.writing;
  }

  private async writePending(durability: Durability): Promise<void> {
    const db = await this.open();
    if (db === undefined || this.storage !== "on") return;
    const batch: Batch = {};
    if (this.recordDirty && this.record !== undefined && this.limits !== undefined) {
      this.record = { ...this.record, updated_at: this.deps.now() };
      batch.session = storeOver(this.record, this.limits);
      this.recordDirty = false;
    }
    const puts = [...this.draftPuts].flatMap((key) => this.drafts.get(key) ?? []);
    if (puts.length > 0) batch.drafts = puts;
    if (this.draftDrops.length > 0) batch.dropDrafts = this.draftDrops;
    this.draftPuts = new Set();
    this.draftDrops = [];
    if (batch.session === undefined && puts.length === 0 && batch.dropDrafts === undefined) return;
    try {
      await writeBatch(db, batch, durability);
    } catch (error) {
      this.disable(error);
    }
  }

  /**
   * Storage is gone (missing, refused, full): say so once and carry on
   * without it. The app still works; a reload just has no mirror to use.
   */
  private disable(error: unknown): void {
    if (this.storage === "off") return;
    this.storage = "off";
    this.writes.cancel();
    this.draftPuts.clear();
    this.draftDrops = [];
    this.drafts.clear();
    this.deps.warn(
      `st-session-guard: browser storage unavailable, running without the mirror (${describe(error)})`,
    );
    void this.database?.then((db) => db?.close());
  }
}
