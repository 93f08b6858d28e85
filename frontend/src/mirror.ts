// The IndexedDB mirror, in the manner of idb-keyval: one function per verb and
// one function that turns a request or a transaction into a promise. Layout as
// docs/protocol.md fixes it, with out-of-line keys so anyone can read or plant
// a record from devtools with a plain `store.get(id)` / `store.put(value, id)`.

import { SCHEMA_VERSION, type DraftRecord, type MirrorRecord } from "./protocol";
import { upgradeRecord } from "./migrate";
import { isObject, isRevision, mergeRecords, parsePathKey } from "./revisions";

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

/** Removes a session's record and all its drafts. */
export function clearSession(db: IDBDatabase, sessionId: string): Promise<void> {
  const tx = db.transaction([SESSIONS, DRAFTS], "readwrite");
  tx.objectStore(SESSIONS).delete(sessionId);
  tx.objectStore(DRAFTS).delete(draftRange(sessionId));
  return request(tx);
}

export interface Batch {
  session?: MirrorRecord;
  drafts?: readonly DraftRecord[];
  dropDrafts?: readonly DraftKey[];
}

/** Writes a record and draft edits in one transaction, so they land together or not at all. */
export async function writeBatch(db: IDBDatabase, batch: Batch): Promise<void> {
  const tx = db.transaction([SESSIONS, DRAFTS], "readwrite");
  const done = request(tx);
  const drafts = tx.objectStore(DRAFTS);
  for (const draft of batch.drafts ?? []) drafts.put(draft, [draft.session_id, draft.key]);
  for (const key of batch.dropDrafts ?? []) drafts.delete([...key]);
  // Committing now instead of on the next idle turn matters during pagehide;
  // browsers without commit() (Safari < 15) still commit when idle.
  const commit = (): void => {
    if (typeof tx.commit === "function") tx.commit();
  };
  const ours = batch.session;
  if (ours === undefined) {
    commit();
    return done;
  }
  // Read and write in one transaction: another tab of the session may have
  // stored newer paths, which a plain put of our copy would throw away.
  const sessions = tx.objectStore(SESSIONS);
  const read = sessions.get(ours.session_id);
  read.onsuccess = () => {
    const stored = upgradeRecord(read.result);
    const merged =
      sessionProblem(stored, ours.session_id) === undefined
        ? mergeRecords(stored as MirrorRecord, ours)
        : ours;
    sessions.put(merged, ours.session_id);
    commit();
  };
  return done;
}

/** The server's own bounds on what the browser sends (reconcile.Limits). */
export const MAX_DEPTH = 32;
export const MAX_BYTES = 2_000_000;

/**
 * Why a value is beyond the bounds the server accepts, or undefined. A record
 * past them (tampered with, say) would only be sent back and refused, or
 * break the message channel itself, on every page load.
 */
export function outOfBounds(value: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (depth > MAX_DEPTH) return `nested deeper than ${MAX_DEPTH}`;
    if (typeof node === "object" && node !== null) {
      for (const child of Object.values(node)) stack.push([child, depth + 1]);
    }
  }
  return JSON.stringify(value).length > MAX_BYTES ? `larger than ${MAX_BYTES} bytes` : undefined;
}

/** Why a stored session value cannot be used, or undefined when it can. */
export function sessionProblem(value: unknown, sessionId: string): string | undefined {
  if (!isObject(value)) return "not an object";
  if (value.schema !== SCHEMA_VERSION) {
    return `schema ${JSON.stringify(value.schema)}, expected ${SCHEMA_VERSION}`;
  }
  const ok =
    value.session_id === sessionId &&
    isRevision(value.revision) &&
    typeof value.updated_at === "number" &&
    isObject(value.forms) &&
    isObject(value.form_meta) &&
    isObject(value.snapshots) &&
    isObject(value.revs) &&
    Object.entries(value.revs).every(([k, r]) => isRevision(r) && parsePathKey(k) !== undefined);
  return ok ? undefined : "malformed";
}

export function isDraftRecord(value: unknown, [sessionId, key]: DraftKey): value is DraftRecord {
  return (
    isObject(value) &&
    value.session_id === sessionId &&
    value.key === key &&
    typeof value.value === "string" &&
    isRevision(value.ts)
  );
}

/**
 * The stored record of a session, validated. One that cannot be used is
 * deleted with one warning and reported as absent: the server holds the
 * truth, so dropping a bad mirror loses at most what the server also lost.
 */
export async function loadSession(
  db: IDBDatabase,
  sessionId: string,
  warn: (message: string) => void,
): Promise<MirrorRecord | undefined> {
  const value = upgradeRecord(await getSession(db, sessionId));
  if (value === undefined) return undefined;
  const problem = sessionProblem(value, sessionId) ?? outOfBounds(value);
  if (problem === undefined) return value as MirrorRecord;
  warn(`st-session-guard: deleting the stored mirror of this session (${problem})`);
  await delSession(db, sessionId);
  return undefined;
}

/** A session's valid drafts; invalid ones are deleted with one warning for all of them. */
export async function loadDrafts(
  db: IDBDatabase,
  sessionId: string,
  warn: (message: string) => void,
): Promise<DraftRecord[]> {
  const good: DraftRecord[] = [];
  const bad: IDBValidKey[] = [];
  for (const { key, value } of await getDrafts(db, sessionId)) {
    const k = Array.isArray(key) && key.length === 2 ? (key as unknown as DraftKey) : undefined;
    if (k !== undefined && isDraftRecord(value, k)) good.push(value);
    else bad.push(key);
  }
  if (bad.length > 0) {
    warn(`st-session-guard: deleting ${bad.length} malformed draft(s)`);
    await delDrafts(db, bad);
  }
  return good;
}
