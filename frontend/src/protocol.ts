// Message types of docs/protocol.md (version 1). The Python twin lives in
// st_session_guard/component.py; tests/test_protocol.py keeps them in step,
// so change both or neither.

export const PROTOCOL_VERSION = 1;
export const SCHEMA_VERSION = 2;

/** The only top-level keys the browser mirrors; anything else is server-owned. */
export const PATH_ROOTS = ["page", "navigation", "forms", "form_meta", "snapshots"] as const;

export type PathRoot = (typeof PATH_ROOTS)[number];

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

/** Python -> browser: the component args of every script run. */
export interface GuardArgs {
  v: number;
  session_id: string;
  revision: number;
  base: number;
  changes: Change[];
  cookie: CookieArgs | null;
  debounce_ms: number;
  drafts: Record<string, [string, string]>;
  excluded: string[];
  ack: number | null;
}

/** Uncommitted typing in a wrapped widget, as sent back to Python. */
export interface DraftOut {
  key: string;
  value: string;
  ts: number;
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

export type GuardMessage = RestoreMessage | ResyncMessage;

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
  revs: Record<string, number>;
}

/** Value in the `drafts` store, keyed by [session id, widget key]. */
export interface DraftRecord {
  session_id: string;
  key: string;
  value: string;
  ts: number;
}
