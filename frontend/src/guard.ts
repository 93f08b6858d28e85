// The component's state machine, kept apart from the browser globals so it can
// be driven in tests: it takes render args, keeps the mirror in memory,
// persists it (debounced) and decides what, if anything, goes back to Python.

import { debounce, type Debouncer } from "./debounce";
import {
  classesOf,
  committedDrafts,
  draftKeyOf,
  type ElementLike,
  keyClass,
  liveDrafts,
} from "./drafts";
import {
  clearSession,
  getSession,
  loadDrafts,
  loadSession,
  writeBatch,
  type Batch,
  type DraftKey,
} from "./mirror";
import {
  PROTOCOL_VERSION,
  type CookieArgs,
  type DraftRecord,
  type GuardArgs,
  type GuardMessage,
  type MirrorRecord,
} from "./protocol";
import {
  applyArgs,
  listedRevisions,
  decide,
  emptyRecord,
  isChange,
  isObject,
  isRevision,
  messageKey,
} from "./revisions";

export const DEFAULT_DEBOUNCE_MS = 150;

export interface GuardDeps {
  /** Hands a message to Python; each one costs a rerun. */
  send(message: GuardMessage): void;
  /** Opens the mirror database; rejects when the browser has no usable IndexedDB. */
  openDatabase(): Promise<IDBDatabase>;
  setCookie(line: string): void;
  /** Whether the app is served over https (cookies then get `Secure`). */
  secure: boolean;
  now(): number;
  warn(message: string): void;
  /** Tells the session's other tabs that the server reached `revision`. */
  announce?(sessionId: string, revision: number): void;
  /** How long to wait for IndexedDB to open; some browsers never answer. */
  openTimeoutMs?: number;
}

/** Args with every field checked and defaulted; undefined when they are unusable. */
export function parseArgs(raw: unknown): GuardArgs | undefined {
  if (!isObject(raw) || raw.v !== PROTOCOL_VERSION) return undefined;
  if (typeof raw.session_id !== "string" || raw.session_id === "") return undefined;
  const drafts: Record<string, [string, string]> = {};
  if (isObject(raw.drafts)) {
    for (const [key, at] of Object.entries(raw.drafts)) {
      if (Array.isArray(at) && at.length === 2 && at.every((s) => typeof s === "string")) {
        drafts[key] = [at[0] as string, at[1] as string];
      }
    }
  }
  return {
    v: PROTOCOL_VERSION,
    session_id: raw.session_id,
    revision: isRevision(raw.revision) ? raw.revision : 0,
    base: isRevision(raw.base) ? raw.base : 0,
    changes: Array.isArray(raw.changes) ? raw.changes.filter(isChange) : [],
    cookie: isCookieArgs(raw.cookie) ? raw.cookie : null,
    debounce_ms: isRevision(raw.debounce_ms) ? raw.debounce_ms : DEFAULT_DEBOUNCE_MS,
    drafts,
    excluded: Array.isArray(raw.excluded)
      ? raw.excluded.filter((key): key is string => typeof key === "string")
      : [],
    ack: isRevision(raw.ack) ? raw.ack : null,
  };
}

function isCookieArgs(value: unknown): value is CookieArgs {
  return (
    isObject(value) &&
    typeof value.name === "string" &&
    typeof value.value === "string" &&
    isRevision(value.max_age)
  );
}

// RFC 6265 token and cookie-octet: anything else could smuggle in attributes.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/** The `document.cookie` assignment for the session cookie, or undefined if unsafe. */
export function cookieLine(cookie: CookieArgs, secure: boolean): string | undefined {
  if (!COOKIE_NAME.test(cookie.name) || !COOKIE_VALUE.test(cookie.value)) return undefined;
  const line = `${cookie.name}=${cookie.value}; path=/; max-age=${Math.floor(cookie.max_age)}; SameSite=Lax`;
  return secure ? `${line}; Secure` : line;
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
  private draftClasses: ReadonlyMap<string, string> = new Map();
  private excludedClasses: ReadonlySet<string> = new Set();
  private draftPuts = new Set<string>();
  private draftDrops: DraftKey[] = [];
  private recordDirty = false;
  private readonly sent = new Set<string>();
  private seq = 0;
  private serverRevision = 0;
  /** The furthest revision another tab of this session has seen the server at. */
  private peerRevision = 0;
  private firstRender = true;
  private warnedArgs = false;
  private waitMs = DEFAULT_DEBOUNCE_MS;
  private queue: Promise<void> = Promise.resolve();
  private readonly writes: Debouncer;

  constructor(private readonly deps: GuardDeps) {
    this.writes = debounce(
      () => this.write(),
      () => this.waitMs,
    );
  }

  /** The mirror's revision in memory (0 before the first render). */
  get revision(): number {
    return this.record?.revision ?? 0;
  }

  /** Which widget's draft a typed-into element is; see drafts.ts draftKeyOf. */
  keyOf(el: ElementLike | null): string | undefined {
    return draftKeyOf(el, this.draftClasses, this.excludedClasses);
  }

  /**
   * Takes one render's args. The cookie is written at once; the rest is
   * queued so that renders arriving while IndexedDB is still opening are
   * applied in order. Resolves when this render has been processed.
   */
  render(raw: unknown): Promise<void> {
    const args = parseArgs(raw);
    if (args === undefined) {
      if (!this.warnedArgs) this.deps.warn("st-session-guard: ignoring render args it cannot read");
      this.warnedArgs = true;
      return this.queue;
    }
    if (args.cookie !== null) {
      const line = cookieLine(args.cookie, this.deps.secure);
      if (line !== undefined) this.deps.setCookie(line);
      else this.deps.warn("st-session-guard: refusing a cookie with unsafe characters");
    }
    this.waitMs = args.debounce_ms;
    this.draftClasses = classesOf(args.drafts);
    this.excludedClasses = new Set(args.excluded.map(keyClass));
    this.queue = this.queue
      .then(() => this.process(args))
      .catch((error: unknown) => this.deps.warn(`st-session-guard: ${describe(error)}`));
    return this.queue;
  }

  /** Records typing in a captured widget (a no-op without storage). */
  capture(key: string, value: string): void {
    if (this.storage === "off" || this.record === undefined) return;
    const draft = { session_id: this.record.session_id, key, value, ts: this.deps.now() };
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
    return this.queue;
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
    this.seq += 1;
    this.deps.send({
      v: PROTOCOL_VERSION,
      seq: this.seq,
      type: "resync",
      session_id: record.session_id,
      revision: record.revision,
    });
  }

  /** Writes whatever is pending now; for pagehide and hidden tabs. */
  flush(): Promise<void> {
    return this.writes.flush();
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
    if (this.record?.session_id !== args.session_id) await this.load(args.session_id);
    const record = this.record as MirrorRecord;
    const next = applyArgs(record, args);
    const drafts = this.firstRender ? liveDrafts(this.drafts.values(), args.drafts, next) : [];
    this.firstRender = false;
    if (next !== record) {
      this.record = next;
      this.recordDirty = true;
      if (this.storage !== "off") this.writes.schedule();
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
      listed: args.base === 0 ? listedRevisions(args.changes) : null,
      base: args.base,
      drafts,
      sent: this.sent,
    });
    if (out === null) {
      this.catchUp();
      return;
    }
    this.sent.add(messageKey(out.type, args.revision));
    this.seq += 1;
    this.deps.send({ ...out, seq: this.seq } as GuardMessage);
  }

  /** Switches to a session: its stored record (if valid) and drafts become the mirror. */
  private async load(sessionId: string): Promise<void> {
    // A pending write belongs to the previous session; let it land under its own id.
    if (this.record !== undefined) await this.flush();
    this.record = emptyRecord(sessionId);
    this.drafts = new Map();
    const db = await this.open();
    if (db === undefined) return;
    try {
      const warn = (message: string): void => this.deps.warn(message);
      const stored = await loadSession(db, sessionId, warn);
      const drafts = await loadDrafts(db, sessionId, warn);
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

  private async write(): Promise<void> {
    const db = await this.open();
    if (db === undefined || this.storage !== "on") return;
    const batch: Batch = {};
    if (this.recordDirty && this.record !== undefined) {
      this.record = { ...this.record, updated_at: this.deps.now() };
      batch.session = this.record;
      this.recordDirty = false;
    }
    const puts = [...this.draftPuts].flatMap((key) => this.drafts.get(key) ?? []);
    if (puts.length > 0) batch.drafts = puts;
    if (this.draftDrops.length > 0) batch.dropDrafts = this.draftDrops;
    this.draftPuts = new Set();
    this.draftDrops = [];
    if (batch.session === undefined && puts.length === 0 && batch.dropDrafts === undefined) return;
    try {
      await writeBatch(db, batch);
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
