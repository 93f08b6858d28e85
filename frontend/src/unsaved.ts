// The changes the database may not hold yet, as the value of a cookie: the
// next page load's request carries them, so its first script run restores
// them before the first paint even when the server that held them died
// (st_session_guard/unsaved_cookie.py reads it; docs/protocol.md).

import {
  PROTOCOL_VERSION,
  type Change,
  type Limits,
  type MirrorRecord,
  type RestoreMessage,
  type UnsavedArgs,
} from "./protocol";
import { newerChanges } from "./revisions";

/** What a session id must be to lead a cookie value the server can split off again. */
const SESSION_ID = /^[0-9A-Za-z_-]+$/;

const encoder = new TextEncoder();

function base64url(text: string): string {
  let binary = "";
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The cookie value for `record`: `<session id>.<base64url of a restore
 * message>` holding its changes above `unsaved.stored` that fit in
 * `unsaved.max_chars`, what the page shows before undo snapshots, the newest
 * first. What does not fit is still in the mirror, which restores it the
 * slower way. Undefined when nothing is unsaved (or nothing fits): then no
 * cookie should be kept.
 */
export function unsavedValue(record: MirrorRecord, unsaved: UnsavedArgs, limits: Limits): string | undefined {
  if (!SESSION_ID.test(record.session_id)) return undefined;
  const changes = newerChanges(record, unsaved.stored);
  if (changes.length === 0) return undefined;
  const envelope: RestoreMessage = {
    v: PROTOCOL_VERSION,
    seq: 1,
    type: "restore",
    session_id: record.session_id,
    revision: record.revision,
    changes: [],
    drafts: [],
  };
  // base64 turns every 3 bytes into 4 characters; each change adds its JSON and a comma.
  const budget = 3 * Math.floor(unsaved.max_chars / 4) - encoder.encode(JSON.stringify(envelope)).length;
  // What the page shows first, undo snapshots last; within each, the newest first.
  const newest = [...changes].reverse();
  const ranked = [...newest.filter((c) => c.p[0] !== "snapshots"), ...newest.filter((c) => c.p[0] === "snapshots")];
  const kept: Change[] = [];
  let used = 0;
  for (const change of ranked) {
    if (kept.length >= limits.max_changes) break;
    const size = encoder.encode(JSON.stringify(change)).length + 1;
    if (used + size > budget) continue;
    kept.push(change);
    used += size;
  }
  if (kept.length === 0) return undefined;
  kept.sort((a, b) => a.r - b.r);
  const encoded = base64url(JSON.stringify({ ...envelope, changes: kept }));
  return encoded.length <= unsaved.max_chars ? `${record.session_id}.${encoded}` : undefined;
}

/** The session a cookie value written by `unsavedValue` belongs to. */
export function unsavedSession(value: string): string {
  return value.split(".", 1)[0] as string;
}
