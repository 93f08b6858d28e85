// The browser<->server protocol: message types, path grammar, bounds, record
// layout and its migration, and nothing else. The Python twin is the package
// st_session_guard/protocol/ (messages, checks, migration); both are held to
// the same verdicts by the vectors in tests/protocol_vectors
// (frontend/tests/protocol.test.ts here).

export const PROTOCOL_VERSION = 1;
/** Layout of the mirror record (and of the server's stored change list). */
export const SCHEMA_VERSION = 2;

/** The only roots the browser mirrors, with the exact number of parts of a path under each. */
export const PATH_LENGTHS: Readonly<Record<PathRoot, number>> = {
  page: 1,
  navigation: 1,
  forms: 3,
  form_meta: 2,
  snapshots: 3,
  storage: 2,
};

/** Names a JavaScript object treats as its machinery, refused as keys and path parts. */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

export type PathRoot = "page" | "navigation" | "forms" | "form_meta" | "snapshots" | "storage";

/** Where a value sits, e.g. ["forms", "<form id>", "<field>"]. */
export type Path = readonly [PathRoot, ...string[]];

export type Json = null | boolean | number | string | Json[] | JsonObject;

export interface JsonObject {
  [key: string]: Json;
}

/** One path's value at a revision; `d: true` marks a deletion (then `v` is null). */
export interface Change {
  p: Path;
  v: Json;
  r: number;
  d?: true;
}

export interface CookieArgs {
  name: string;
  value: string;
  max_age: number;
}

/** Where to keep the changes the database may not hold yet (Python's protocol.UnsavedSpec). */
export interface UnsavedArgs {
  /** The cookie's name. */
  name: string;
  /** Every path at or below this revision is in the database, as far as the server knows. */
  stored: number;
  /** The longest cookie value to write; what does not fit stays in the mirror only. */
  max_chars: number;
}

/** The bounds the server enforces, sent in every render's args (Python's protocol.Limits). */
export interface Limits {
  max_bytes: number;
  max_depth: number;
  max_items: number;
  max_changes: number;
  max_drafts: number;
  max_name: number;
  debounce_ms: number;
}

/** Python -> browser: the component args of every script run. */
export interface GuardArgs {
  v: number;
  session_id: string;
  revision: number;
  base: number;
  changes: Change[];
  cookie: CookieArgs | null;
  limits: Limits;
  drafts: Record<string, [string, string]>;
  excluded: string[];
  ack: number | null;
  /** Ids this tab held that ended: their mirror, drafts and cookie are never written again. */
  ended: string[];
  unsaved: UnsavedArgs | null;
}

/** Uncommitted typing in a wrapped widget, as sent back to Python. */
export interface DraftOut {
  key: string;
  value: string;
  /** The server's revision of the draft's path when it was typed over: the draft counts only while the path is still there. */
  base: number;
}

/** Browser -> Python: the mirror holds paths newer than the server, or drafts. */
export interface RestoreMessage {
  v: number;
  seq: number;
  type: "restore";
  session_id: string;
  revision: number;
  changes: Change[];
  drafts: DraftOut[];
}

/** Browser -> Python: the mirror missed changes; send everything after `revision`. */
export interface ResyncMessage {
  v: number;
  seq: number;
  type: "resync";
  session_id: string;
  revision: number;
}

/**
 * Browser -> Python: the tab's session ended in another tab; move to the
 * session the browser's cookie now names. The signed cookie is the proof.
 */
export interface FollowMessage {
  v: number;
  seq: number;
  type: "follow";
  session_id: string;
  revision: number;
  token: string;
}

export type GuardMessage = RestoreMessage | ResyncMessage | FollowMessage;

/** Length of a cookie token in a follow message (Python's MAX_TOKEN). */
export const MAX_TOKEN = 256;

/**
 * Value in the `sessions` store, keyed by session id. `page` and `navigation`
 * are absent until a change sets them and after a change deletes them, so an
 * absent value and a stored null stay distinguishable.
 */
export interface MirrorRecord {
  schema: number;
  session_id: string;
  revision: number;
  updated_at: number;
  page?: Json;
  navigation?: Json;
  forms: JsonObject;
  form_meta: JsonObject;
  snapshots: JsonObject;
  /** The app's `session.storage`, one value per key. */
  storage: JsonObject;
  revs: Record<string, number>;
}

/** Value in the `drafts` store, keyed by [session id, widget key]. */
export interface DraftRecord extends DraftOut {
  session_id: string;
  /** When it was typed, by this browser's clock: only ever compared with other typing here. */
  ts: number;
}

type Obj = Record<string, unknown>;

export function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A non-negative integer, as Python's `int` is: revisions, sequence numbers, bounds. */
export function isRevision(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isName(value: unknown, limits: Limits): value is string {
  return typeof value === "string" && value.length <= limits.max_name && !FORBIDDEN_NAMES.has(value);
}

/** A path of the grammar `lengths` fixes: a known root, its exact length, bounded names. */
export function isPath(
  value: unknown,
  limits: Limits,
  lengths: Readonly<Record<string, number>> = PATH_LENGTHS,
): value is Path {
  if (!Array.isArray(value) || value.length === 0) return false;
  if (!value.every((part) => isName(part, limits))) return false;
  const root = value[0] as string;
  return Object.hasOwn(lengths, root) && value.length === lengths[root];
}

export function isChange(
  value: unknown,
  limits: Limits,
  lengths: Readonly<Record<string, number>> = PATH_LENGTHS,
): value is Change {
  if (!isObject(value) || !isPath(value.p, limits, lengths) || !isRevision(value.r)) return false;
  return value.d === true || value.v !== undefined;
}

/** The key of a path in a record's `revs`. */
export function pathKey(path: Path): string {
  return JSON.stringify(path);
}

export function parsePathKey(key: string, limits: Limits): Path | undefined {
  try {
    const path: unknown = JSON.parse(key);
    return isPath(path, limits) ? path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a value breaks a bound or a rule of what may cross, or undefined.
 * Size counts each string and key as its length plus 2, each container as 2
 * and each other scalar as 8, exactly as Python's check_bounds does; numbers
 * that are not finite are refused.
 */
export function boundsProblem(value: unknown, limits: Limits): string | undefined {
  const size = measure(value, limits, limits.max_bytes);
  return typeof size === "string" ? size : undefined;
}

/** A value's size as `boundsProblem` counts it, or why it breaks a rule; a problem past `cap` bytes. */
export function measure(value: unknown, limits: Limits, cap: number): number | string {
  let size = 0;
  let items = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    items += 1;
    if (depth > limits.max_depth) return `nested deeper than ${limits.max_depth}`;
    if (items > limits.max_items) return `more than ${limits.max_items} values`;
    if (typeof node === "string") {
      size += node.length + 2;
    } else if (Array.isArray(node)) {
      size += 2;
      for (const child of node) stack.push([child, depth + 1]);
    } else if (isObject(node)) {
      size += 2;
      for (const [key, child] of Object.entries(node)) {
        if (FORBIDDEN_NAMES.has(key)) return `object key ${JSON.stringify(key)} is refused`;
        size += key.length + 2;
        stack.push([child, depth + 1]);
      }
    } else if (typeof node === "number" && !Number.isFinite(node)) {
      return "non-finite number";
    } else if (node === null || typeof node === "boolean" || typeof node === "number") {
      size += 8;
    } else {
      return `${typeof node} is not JSON`;
    }
    if (size > cap) return `larger than ${cap} bytes`;
  }
  return size;
}

function isLimits(value: unknown): value is Limits {
  if (!isObject(value)) return false;
  const keys: Array<keyof Limits> = [
    "max_bytes",
    "max_depth",
    "max_items",
    "max_changes",
    "max_drafts",
    "max_name",
    "debounce_ms",
  ];
  return keys.every((key) => isRevision(value[key]));
}

function isUnsavedArgs(value: unknown): value is UnsavedArgs {
  return (
    isObject(value) &&
    typeof value.name === "string" &&
    value.name !== "" &&
    isRevision(value.stored) &&
    isRevision(value.max_chars)
  );
}

function isCookieArgs(value: unknown): value is CookieArgs {
  return (
    isObject(value) &&
    typeof value.name === "string" &&
    typeof value.value === "string" &&
    isRevision(value.max_age)
  );
}

/** Args with every field checked and defaulted; undefined when they are unusable. */
export function parseArgs(raw: unknown): GuardArgs | undefined {
  if (!isObject(raw) || raw.v !== PROTOCOL_VERSION || !isLimits(raw.limits)) return undefined;
  if (typeof raw.session_id !== "string" || raw.session_id === "") return undefined;
  const limits = raw.limits;
  const drafts: Record<string, [string, string]> = {};
  if (isObject(raw.drafts)) {
    for (const [key, at] of Object.entries(raw.drafts)) {
      if (Array.isArray(at) && at.length === 2 && at.every((s) => isName(s, limits))) {
        drafts[key] = [at[0] as string, at[1] as string];
      }
    }
  }
  return {
    v: PROTOCOL_VERSION,
    session_id: raw.session_id,
    revision: isRevision(raw.revision) ? raw.revision : 0,
    base: isRevision(raw.base) ? raw.base : 0,
    changes: Array.isArray(raw.changes) ? raw.changes.filter((c) => isChange(c, limits)) : [],
    cookie: isCookieArgs(raw.cookie) ? raw.cookie : null,
    limits: { ...limits },
    drafts,
    excluded: Array.isArray(raw.excluded)
      ? raw.excluded.filter((key): key is string => typeof key === "string")
      : [],
    ack: isRevision(raw.ack) ? raw.ack : null,
    ended: Array.isArray(raw.ended)
      ? raw.ended.filter((id): id is string => typeof id === "string" && id !== "" && id.length <= limits.max_name)
      : [],
    unsaved: isUnsavedArgs(raw.unsaved) ? { name: raw.unsaved.name, stored: raw.unsaved.stored, max_chars: raw.unsaved.max_chars } : null,
  };
}

function isDraftOut(value: unknown, limits: Limits): value is DraftOut {
  return (
    isObject(value) &&
    typeof value.key === "string" &&
    value.key !== "" &&
    value.key.length <= limits.max_name &&
    typeof value.value === "string" &&
    isRevision(value.base)
  );
}

/**
 * A message as the server reads it: undefined when it breaks a rule or was
 * already applied (`seq` not above `lastSeq`); malformed changes and drafts
 * are left out. The guard checks what it sends with it, so a message the
 * server would refuse never costs a rerun.
 */
export function readMessage(
  raw: unknown,
  sessionId: string,
  lastSeq: number,
  limits: Limits,
): GuardMessage | undefined {
  if (boundsProblem(raw, limits) !== undefined || !isObject(raw)) return undefined;
  if (raw.v !== PROTOCOL_VERSION || raw.session_id !== sessionId) return undefined;
  const { seq, revision } = raw;
  if (!isRevision(seq) || !isRevision(revision) || seq <= lastSeq) return undefined;
  const head = { v: PROTOCOL_VERSION, seq, session_id: sessionId, revision };
  if (raw.type === "resync") return { ...head, type: "resync" };
  if (raw.type === "follow") {
    const { token } = raw;
    if (typeof token !== "string" || token === "" || token.length > MAX_TOKEN) return undefined;
    return { ...head, type: "follow", token };
  }
  if (raw.type !== "restore") return undefined;
  const changes = raw.changes === undefined ? [] : raw.changes;
  const drafts = raw.drafts === undefined ? [] : raw.drafts;
  if (!Array.isArray(changes) || changes.length > limits.max_changes) return undefined;
  if (!Array.isArray(drafts) || drafts.length > limits.max_drafts) return undefined;
  return {
    ...head,
    type: "restore",
    changes: changes.filter((c) => isChange(c, limits)),
    drafts: drafts.filter((d) => isDraftOut(d, limits)),
  };
}

/** Why a stored session value cannot be used as this session's mirror, or undefined. */
export function recordProblem(value: unknown, sessionId: string, limits: Limits): string | undefined {
  if (!isObject(value)) return "not an object";
  if (value.schema !== SCHEMA_VERSION) {
    return `schema ${JSON.stringify(value.schema)}, expected ${SCHEMA_VERSION}`;
  }
  const ok =
    value.session_id === sessionId &&
    isRevision(value.revision) &&
    isRevision(value.updated_at) &&
    isObject(value.forms) &&
    isObject(value.form_meta) &&
    isObject(value.snapshots) &&
    isObject(value.storage) &&
    isObject(value.revs) &&
    Object.entries(value.revs).every(([k, r]) => isRevision(r) && parsePathKey(k, limits) !== undefined);
  return ok ? boundsProblem(value, limits) : "malformed";
}

export function isDraftRecord(
  value: unknown,
  [sessionId, key]: readonly [string, string],
  limits: Limits,
): value is DraftRecord {
  return (
    isObject(value) &&
    value.session_id === sessionId &&
    isDraftOut(value, limits) &&
    value.key === key &&
    isRevision(value.ts)
  );
}

// -- records of older layouts ---------------------------------------------

const V1_PATH_LENGTHS: Readonly<Record<string, number>> = { ...PATH_LENGTHS, snapshots: 2 };
const V2_UNDO_SLOTS = 50;

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error("a layout 1 history holds lists");
  return value;
}

/**
 * Layout 1 kept a form's whole history at ["snapshots", form]; layout 2 numbers
 * the steps on one line (undo steps oldest first, then the redo stack from its
 * top), one path per step. A deleted history is dropped.
 */
function v1ToV2(changes: readonly Change[]): Change[] {
  const out: Change[] = [];
  for (const change of changes) {
    const value = change.v;
    if (change.p[0] !== "snapshots") {
      out.push(change);
      continue;
    }
    if (change.d === true || !isObject(value)) continue;
    const form = change.p[1] as string;
    const step = (part: string, v: unknown): Change => ({
      p: ["snapshots", form, part],
      v: v as Json,
      r: change.r,
    });
    const undo = list(value.undo);
    const line = [...undo, ...[...list(value.redo)].reverse()];
    const hi = line.length;
    const lo = Math.max(0, hi - V2_UNDO_SLOTS);
    const at = Math.max(lo, undo.length);
    out.push(step("saved", list(value.snapshots)), step("line", { lo, at, hi }));
    for (let n = lo + 1; n <= hi; n += 1) {
      out.push(step(String(n % V2_UNDO_SLOTS), { n, step: line[n - 1] }));
    }
  }
  return out;
}

const STEPS: ReadonlyMap<number, [Readonly<Record<string, number>>, (c: readonly Change[]) => Change[]]> =
  new Map([[1, [V1_PATH_LENGTHS, v1ToV2]]]);

/**
 * A change list of layout `schema` in the current layout, or undefined for a
 * layout this release does not know or a malformed list. The one migration
 * of the browser; Python's protocol.upgrade_changes is its twin.
 */
export function upgradeChanges(schema: unknown, raw: unknown, limits: Limits): Change[] | undefined {
  if (!isRevision(schema) || schema < 1 || schema > SCHEMA_VERSION || !Array.isArray(raw)) return undefined;
  let version = schema;
  let [lengths, step] = STEPS.get(version) ?? [PATH_LENGTHS, undefined];
  if (!raw.every((c) => isChange(c, limits, lengths))) return undefined;
  let changes: Change[] = raw.map((c: Change) => (c.d === true ? { p: c.p, v: null, r: c.r, d: true } : c));
  try {
    while (step !== undefined) {
      changes = step(changes);
      version += 1;
      [lengths, step] = STEPS.get(version) ?? [PATH_LENGTHS, undefined];
    }
  } catch {
    return undefined;
  }
  return changes.every((c) => isChange(c, limits)) ? changes : undefined;
}

/** Every path of a record as a change (a deletion where `revs` holds a tombstone). */
function recordChanges(record: Obj): Change[] | undefined {
  if (!isObject(record.revs)) return undefined;
  const out: Change[] = [];
  for (const [key, r] of Object.entries(record.revs)) {
    let p: unknown;
    try {
      p = JSON.parse(key);
    } catch {
      return undefined;
    }
    if (!Array.isArray(p)) return undefined;
    const path = p as unknown as Path;
    let node: unknown = record;
    for (const part of path) node = isObject(node) && Object.hasOwn(node, part) ? node[part] : undefined;
    const revision = r as number;
    out.push(node === undefined ? { p: path, v: null, r: revision, d: true } : { p: path, v: node as Json, r: revision });
  }
  return out;
}

/**
 * A stored record in the current layout; a value of a layout this release
 * does not know, or a malformed one, is returned as it is for recordProblem
 * to refuse. Only the paths' values and revisions are rewritten.
 */
export function upgradeRecord(value: unknown, limits: Limits): unknown {
  if (!isObject(value)) return value;
  if (value.schema === SCHEMA_VERSION) {
    // A record of this layout written before `storage` existed holds no app state yet.
    return value.storage === undefined ? { ...value, storage: {} } : value;
  }
  const changes = recordChanges(value);
  const upgraded = changes === undefined ? undefined : upgradeChanges(value.schema, changes, limits);
  if (upgraded === undefined) return value;
  const record: Obj = {
    ...value,
    schema: SCHEMA_VERSION,
    forms: {},
    form_meta: {},
    snapshots: {},
    storage: {},
    revs: {},
  };
  delete record.page;
  delete record.navigation;
  const revs: Record<string, number> = {};
  for (const change of upgraded) {
    revs[pathKey(change.p)] = change.r;
    if (change.d === true) continue;
    let node = record;
    change.p.forEach((part, i) => {
      if (i === change.p.length - 1) node[part] = change.v;
      else node = (node[part] = isObject(node[part]) ? { ...node[part] } : {}) as Obj;
    });
  }
  record.revs = revs;
  return record;
}
