// The IndexedDB mirror, in the manner of idb-keyval: one function per verb and
// one function that turns a request or a transaction into a promise. Layout as
// docs/protocol.md fixes it, with out-of-line keys so anyone can read or plant
// a record from devtools with a plain `store.get(id)` / `store.put(value, id)`.
// No rules live here: what a stored value must be, and how two copies merge,
// the caller passes in, the way idb-keyval's update(key, updater) takes an updater.

import type { DraftRecord, MirrorRecord } from "./protocol";

export const DB_NAME = "st-session-guard";
export const DB_VERSION = 1;
export const SESSIONS = "sessions";
export const DRAFTS = "drafts";

export type DraftKey = readonly [sessionId: string, widgetKey: string];

/** Resolves with a request's result, or when a transaction has committed. */
export function request<T = void>(req: IDBRequest<T> | IDBTransaction): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const r = req as IDBRequest<T> & IDBTransaction;
    r.oncomplete = r.onsuccess = () => resolve(r.result);
    r.onabort = r.onerror = () => reject(r.error ?? new Error("IndexedDB request failed"));
  });
}

export async function openMirror(factory: IDBFactory | undefined): Promise<IDBDatabase> {
  if (factory === undefined) throw new Error("IndexedDB is not available");
  const req = factory.open(DB_NAME, DB_VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(SESSIONS)) db.createObjectStore(SESSIONS);
    if (!db.objectStoreNames.contains(DRAFTS)) db.createObjectStore(DRAFTS);
  };
  const db = await request(req);
  // A newer frontend in another tab may need to upgrade; holding on would block it.
  db.onversionchange = () => db.close();
  return db;
}

/** Every draft key of a session: arrays sort after strings, so [id, []] ends the range. */
function draftRange(sessionId: string): IDBKeyRange {
  return IDBKeyRange.bound([sessionId], [sessionId, []]);
}

export function getSession(db: IDBDatabase, sessionId: string): Promise<unknown> {
  return request(db.transaction(SESSIONS).objectStore(SESSIONS).get(sessionId));
}

export function delSession(db: IDBDatabase, sessionId: string): Promise<void> {
  const tx = db.transaction(SESSIONS, "readwrite");
  tx.objectStore(SESSIONS).delete(sessionId);
  return request(tx);
}

export async function getDrafts(
  db: IDBDatabase,
  sessionId: string,
): Promise<Array<{ key: IDBValidKey; value: unknown }>> {
  const store = db.transaction(DRAFTS).objectStore(DRAFTS);
  const [keys, values] = await Promise.all([
    request(store.getAllKeys(draftRange(sessionId))),
    request(store.getAll(draftRange(sessionId))),
  ]);
  return keys.map((key, i) => ({ key, value: values[i] }));
}

export function delDrafts(db: IDBDatabase, keys: readonly IDBValidKey[]): Promise<void> {
  const tx = db.transaction(DRAFTS, "readwrite");
  for (const key of keys) tx.objectStore(DRAFTS).delete(key);
  return request(tx);
}

/**
 * How sure a write must be to survive a crash of the browser: "strict" for
 * what the page already shows and for deletions at logout, "relaxed" (the
 * browser's default) for typing that will be written again on the next key.
 */
export type Durability = "strict" | "relaxed";

/** Removes a session's record and all its drafts, durably. */
export function clearSession(db: IDBDatabase, sessionId: string): Promise<void> {
  const tx = db.transaction([SESSIONS, DRAFTS], "readwrite", { durability: "strict" });
  tx.objectStore(SESSIONS).delete(sessionId);
  tx.objectStore(DRAFTS).delete(draftRange(sessionId));
  return request(tx);
}

export interface Batch {
  /** The session record to write: `update` turns the stored value (if any) into the one to put. */
  session?: { id: string; update(stored: unknown): MirrorRecord };
  drafts?: readonly DraftRecord[];
  dropDrafts?: readonly DraftKey[];
}

/** Writes a record and draft edits in one transaction, so they land together or not at all. */
export async function writeBatch(db: IDBDatabase, batch: Batch, durability: Durability = "relaxed"): Promise<void> {
  const tx = db.transaction([SESSIONS, DRAFTS], "readwrite", { durability });
  const done = request(tx);
  const drafts = tx.objectStore(DRAFTS);
  for (const draft of batch.drafts ?? []) drafts.put(draft, [draft.session_id, draft.key]);
  for (const key of batch.dropDrafts ?? []) drafts.delete([...key]);
  // Committing now instead of on the next idle turn matters during pagehide;
  // browsers without commit() (Safari < 15) still commit when idle.
  const commit = (): void => {
    if (typeof tx.commit === "function") tx.commit();
  };
  const session = batch.session;
  if (session === undefined) {
    commit();
    return done;
  }
  // Read and write in one transaction: another tab may have stored since.
  const sessions = tx.objectStore(SESSIONS);
  const read = sessions.get(session.id);
  read.onsuccess = () => {
    sessions.put(session.update(read.result), session.id);
    commit();
  };
  return done;
}

/** How a stored session value is read: brought up to date, then checked. */
export interface RecordPolicy {
  upgrade(value: unknown): unknown;
  /** Why the value cannot be used, or undefined when it can. */
  problem(value: unknown): string | undefined;
  /** A usable record made from one past the bounds by dropping what may go, and what went. */
  trim?(value: unknown): { record: MirrorRecord; dropped: number } | undefined;
}

/**
 * The stored record of a session, as the policy reads it. One past the bounds
 * that the policy can trim is used trimmed, with one warning. One that cannot
 * be used is deleted with one warning and reported as absent: the server holds
 * the truth, so dropping a bad mirror loses at most what the server also lost.
 */
export async function loadSession(
  db: IDBDatabase,
  sessionId: string,
  policy: RecordPolicy,
  warn: (message: string) => void,
): Promise<MirrorRecord | undefined> {
  const value = policy.upgrade(await getSession(db, sessionId));
  if (value === undefined) return undefined;
  const problem = policy.problem(value);
  if (problem === undefined) return value as MirrorRecord;
  const trimmed = policy.trim?.(value);
  if (trimmed !== undefined && policy.problem(trimmed.record) === undefined) {
    warn(`st-session-guard: dropped the ${trimmed.dropped} oldest undo step(s) of the stored mirror (${problem})`);
    return trimmed.record;
  }
  warn(`st-session-guard: deleting the stored mirror of this session (${problem})`);
  await delSession(db, sessionId);
  return undefined;
}

/** A session's drafts that `isDraft` accepts; the others are deleted with one warning for all. */
export async function loadDrafts(
  db: IDBDatabase,
  sessionId: string,
  isDraft: (value: unknown, key: DraftKey) => value is DraftRecord,
  warn: (message: string) => void,
): Promise<DraftRecord[]> {
  const good: DraftRecord[] = [];
  const bad: IDBValidKey[] = [];
  for (const { key, value } of await getDrafts(db, sessionId)) {
    const k = Array.isArray(key) && key.length === 2 ? (key as unknown as DraftKey) : undefined;
    if (k !== undefined && isDraft(value, k)) good.push(value);
    else bad.push(key);
  }
  if (bad.length > 0) {
    warn(`st-session-guard: deleting ${bad.length} malformed draft(s)`);
    await delDrafts(db, bad);
  }
  return good;
}
