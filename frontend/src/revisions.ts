// Pure merge rules of the mirror: no I/O, no clock, inputs never mutated.
// Inputs have passed protocol.ts (parseArgs, recordProblem) before they get here.
// Records are updated copy-on-write along the changed paths only, so applying
// one change to a large session copies a handful of small objects.

import {
  PROTOCOL_VERSION,
  SCHEMA_VERSION,
  isObject,
  pathKey,
  type Change,
  type DraftOut,
  type GuardArgs,
  type Json,
  type MirrorRecord,
  type Path,
  type RestoreMessage,
  type ResyncMessage,
} from "./protocol";

type Obj = Record<string, unknown>;

export function emptyRecord(sessionId: string): MirrorRecord {
  return {
    schema: SCHEMA_VERSION,
    session_id: sessionId,
    revision: 0,
    updated_at: 0,
    forms: {},
    form_meta: {},
    snapshots: {},
    storage: {},
    revs: {},
  };
}

/** The value at a path, or undefined when nothing (or a tombstone) is there. */
export function valueAt(record: MirrorRecord, path: Path): Json | undefined {
  let node: unknown = record;
  for (const segment of path) {
    if (!isObject(node) || !Object.hasOwn(node, segment)) return undefined;
    node = node[segment];
  }
  return node as Json;
}

function setIn(node: Obj, path: Path, i: number, value: Json): Obj {
  const segment = path[i] as string;
  const copy = { ...node };
  if (i === path.length - 1) {
    copy[segment] = value;
  } else {
    const child = node[segment];
    copy[segment] = setIn(isObject(child) ? child : {}, path, i + 1, value);
  }
  return copy;
}

function deleteIn(node: Obj, path: Path, i: number): Obj {
  const segment = path[i] as string;
  if (!Object.hasOwn(node, segment)) return node;
  const copy = { ...node };
  if (i === path.length - 1) {
    delete copy[segment];
  } else {
    const child = node[segment];
    if (!isObject(child)) return node;
    copy[segment] = deleteIn(child, path, i + 1);
  }
  return copy;
}

const setAt = (record: MirrorRecord, path: Path, value: Json): MirrorRecord =>
  setIn(record as unknown as Obj, path, 0, value) as unknown as MirrorRecord;

const deleteAt = (record: MirrorRecord, path: Path): MirrorRecord =>
  deleteIn(record as unknown as Obj, path, 0) as unknown as MirrorRecord;

/**
 * Whether the record already holds what the change says. Only asked on a
 * revision tie, which is the normal case after a reload (the server lists
 * everything the mirror already has): skipping those keeps the record
 * untouched, so an in-sync page load writes nothing.
 */
function holds(record: MirrorRecord, change: Change): boolean {
  const current = valueAt(record, change.p);
  if (change.d === true) return current === undefined;
  return current !== undefined && JSON.stringify(current) === JSON.stringify(change.v);
}

/**
 * Applies changes per path, newest revision wins: a change replaces the path
 * when its `r` is at least the path's current revision (ties go to the
 * incoming change, which is the server's). A deletion removes the value but
 * keeps the path's revision in `revs` as a tombstone, so an older write that
 * arrives later cannot bring the value back.
 * Returns the input record itself when nothing changed.
 */
export function applyChanges(record: MirrorRecord, changes: readonly Change[]): MirrorRecord {
  let next = record;
  let revs: Record<string, number> | undefined;
  let revision = record.revision;
  for (const change of changes) {
    const key = pathKey(change.p);
    const current = (revs ?? record.revs)[key];
    if (current !== undefined && change.r < current) continue;
    if (current === change.r && holds(next, change)) continue;
    next = change.d === true ? deleteAt(next, change.p) : setAt(next, change.p, change.v);
    revs ??= { ...record.revs };
    revs[key] = change.r;
    revision = Math.max(revision, change.r);
  }
  return revs === undefined ? record : { ...next, revs, revision };
}

/**
 * With `base` 0 the server lists its whole state, tombstones included, so
 * the list says which revision of each path the server has. A path it does
 * not list, or lists older than the mirror, is something the server lost
 * (it restarted inside its write-behind window): the mirror keeps it and
 * sends it back. Comparing with the server's overall revision instead would
 * lose it, since a fresh page view already moves that revision past every
 * path the mirror holds.
 */
export function listedRevisions(changes: readonly Change[]): Map<string, number> {
  const listed = new Map<string, number>();
  for (const change of changes) {
    const key = pathKey(change.p);
    listed.set(key, Math.max(listed.get(key) ?? 0, change.r));
  }
  return listed;
}

/** True when the mirror missed changes the server believes it has. */
export function isBehind(record: MirrorRecord, base: number): boolean {
  return base > 0 && record.revision < base;
}

/**
 * The record with no revision above `ceiling`, the server's revision. Every
 * revision in a mirror came from the server, so one above the server's own
 * was forged or planted; kept, it would pin its value above the user's next
 * edits. Never the browser's clock: only the server's revision is the ceiling.
 */
export function clampRevisions(record: MirrorRecord, ceiling: number): MirrorRecord {
  const high = Object.entries(record.revs).filter(([, r]) => r > ceiling);
  if (high.length === 0 && record.revision <= ceiling) return record;
  const revs = { ...record.revs };
  for (const [key] of high) revs[key] = ceiling;
  return { ...record, revs, revision: Math.min(record.revision, ceiling) };
}

/**
 * Merges one render's args into the mirror, its revisions first clamped to
 * the server's (see clampRevisions). The record's revision becomes
 * the largest of its own, the server's and every applied change's, except
 * when the mirror is behind `base`: then the delta has a hole in it, and
 * claiming the server's revision would hide that hole from the next
 * comparison, so the revision stays where it was until a resync fills it.
 */
export function applyArgs(
  record: MirrorRecord,
  args: Pick<GuardArgs, "changes" | "base" | "revision">,
): MirrorRecord {
  const next = applyChanges(clampRevisions(record, args.revision), args.changes);
  const revision = isBehind(record, args.base)
    ? record.revision
    : Math.max(next.revision, args.revision);
  return revision === next.revision ? next : { ...next, revision };
}

/**
 * Every path newer than the server's copy of it, as changes, oldest first.
 * `server` is the server's revision of each path when it listed its whole
 * state (see listedRevisions), else its overall revision.
 */
export function newerChanges(
  record: MirrorRecord,
  server: number | ReadonlyMap<string, number>,
): Change[] {
  const out: Change[] = [];
  for (const [key, r] of Object.entries(record.revs)) {
    if (r <= (typeof server === "number" ? server : (server.get(key) ?? 0))) continue;
    const p = JSON.parse(key) as Path;
    const v = valueAt(record, p);
    out.push(v === undefined ? { p, v: null, r, d: true } : { p, v, r });
  }
  return out.sort((a, b) => a.r - b.r);
}

export type Outgoing = Omit<RestoreMessage, "seq"> | Omit<ResyncMessage, "seq">;

export interface DecisionInput {
  /** The mirror after this render's args were applied. */
  record: MirrorRecord;
  /** The mirror's revision before they were applied. */
  previousRevision: number;
  serverRevision: number;
  /** The server's revision of each path, when this render listed its whole state. */
  listed: ReadonlyMap<string, number> | null;
  base: number;
  /** Live drafts to offer; empty but on the render that first compares the whole mirror. */
  drafts: readonly DraftOut[];
  /** Whether an earlier render of this page load listed the server's whole state. */
  compared: boolean;
  /** Keys (see messageKey) of the messages already sent in this page load. */
  sent: ReadonlySet<string>;
}

/**
 * Identifies a message by what it answers, so no server revision is answered
 * twice. A rerun asked for to catch up with another tab ("catchup") answers
 * another question than a resync of a mirror that fell behind, though both
 * are sent as resyncs: one must not stand in the other's way.
 */
export function messageKey(kind: Outgoing["type"] | "catchup", serverRevision: number): string {
  return `${kind}:${serverRevision}`;
}

/**
 * What to send for one render: a restore when the mirror holds something the
 * server lacks, else a resync when the mirror is behind, else nothing (the
 * common case, which must not cost a rerun). A message already sent for the
 * same server revision is not sent again: the server did not take it, and
 * repeating it would only loop reruns.
 *
 * Until a render has listed the server's whole state, the mirror cannot tell
 * which paths the server lost (the frame loaded after a run the user started,
 * so its first render is a delta past a page view): it asks for everything, a
 * resync from revision 0, and compares path by path on the render that lists it.
 */
export function decide(input: DecisionInput): Outgoing | null {
  const { record, serverRevision } = input;
  const session = { v: PROTOCOL_VERSION, session_id: record.session_id, revision: record.revision };
  if (input.listed === null && !input.compared) {
    if (input.sent.has(messageKey("resync", serverRevision))) return null;
    return { ...session, type: "resync", revision: 0 };
  }
  const changes = newerChanges(record, input.listed ?? serverRevision);
  if (changes.length > 0 || input.drafts.length > 0) {
    if (input.sent.has(messageKey("restore", serverRevision))) return null;
    return { ...session, type: "restore", changes, drafts: [...input.drafts] };
  }
  if (input.base > 0 && input.previousRevision < input.base) {
    if (input.sent.has(messageKey("resync", serverRevision))) return null;
    return { ...session, type: "resync", revision: input.previousRevision };
  }
  return null;
}

/**
 * Two copies of one session's mirror merged path by path, newest revision
 * first: what a tab writes over the stored record, since another tab of the
 * same session may have stored newer paths since this tab last read it.
 */
export function mergeRecords(stored: MirrorRecord, ours: MirrorRecord): MirrorRecord {
  const merged = applyChanges(ours, newerChanges(stored, new Map(Object.entries(ours.revs))));
  const revision = Math.max(merged.revision, stored.revision);
  return revision === merged.revision ? merged : { ...merged, revision };
}
