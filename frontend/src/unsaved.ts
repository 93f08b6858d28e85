// The changes the database may not hold yet, as the value of a cookie: the
// next page load's request carries them, so its first script run restores
// them before the first paint even when the server that held them died
// (st_session_guard/unsaved_cookie.py reads it; docs/protocol.md).

import {
  PROTOCOL_VERSION,
  type Change,
  type DraftOut,
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
 * message>` holding its changes above `unsaved.stored` and the live
 * `drafts` that fit in `unsaved.max_chars`: the values the page shows, then
 * drafts, then undo snapshots, the newest first within each. What does not
 * fit is still in the mirror, which restores it the slower way. Undefined
 * when nothing is unsaved (or nothing fits): then no cookie should be kept.
 */
export function unsavedValue(
  record: MirrorRecord,
  unsaved: UnsavedArgs,
  limits: Limits,
  drafts: readonly DraftOut[] = [],
): string | undefined {
  if (!SESSION_ID.test(record.session_id)) return undefined;
  const changes = newerChanges(record, unsaved.stored);
  if (changes.length === 0 && drafts.length === 0) return undefined;
  const envelope: RestoreMessage = {
    v: PROTOCOL_VERSION,
    seq: 1,
    type: "restore",
    session_id: record.session_id,
    revision: record.revision,
    changes: [],
    drafts: [],
  };
  // base64 turns every 3 bytes into 4 characters; each entry adds its JSON and a comma.
  let room = 3 * Math.floor(unsaved.max_chars / 4) - encoder.encode(JSON.stringify(envelope)).length;
  const fits = (entry: Change | DraftOut): boolean => {
    const size = encoder.encode(JSON.stringify(entry)).length + 1;
    if (size > room) return false;
    room -= size;
    return true;
  };
  const newest = [...changes].reverse();
  const shown = newest.filter((c) => c.p[0] !== "snapshots" && fits(c)).slice(0, limits.max_changes);
  const typed = drafts.filter(fits).slice(0, limits.max_drafts);
  const snapshots = newest.filter((c) => c.p[0] === "snapshots" && fits(c)).slice(0, limits.max_changes - shown.length);
  if (shown.length + typed.length + snapshots.length === 0) return undefined;
  const kept = [...shown, ...snapshots].sort((a, b) => a.r - b.r);
  const encoded = base64url(JSON.stringify({ ...envelope, changes: kept, drafts: typed }));
  return encoded.length <= unsaved.max_chars ? `${record.session_id}.${encoded}` : undefined;
}

/** The session a cookie value written by `unsavedValue` belongs to. */
export function unsavedSession(value: string): string {
  return value.split(".", 1)[0] as string;
}
