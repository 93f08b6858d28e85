// The shared protocol vectors (tests/protocol_vectors), read as files so the
// browser's suite and Python's judge the very same cases.
import { readFileSync } from "node:fs";
import type { RecordPolicy } from "../src/mirror";
import {
  isDraftRecord,
  recordProblem,
  upgradeRecord,
  type DraftRecord,
  type Limits,
  type MirrorRecord,
} from "../src/protocol";

export interface Case {
  name: string;
  expect: "accept" | "reject";
  [field: string]: unknown;
}

export function vectors(name: string): { cases: Case[]; [field: string]: unknown } {
  const url = new URL(`../../tests/protocol_vectors/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as { cases: Case[] };
}

/** The server's default bounds, as it sends them in the args. */
export const LIMITS = vectors("bounds.json").limits as Limits;

/** A batch entry that stores `record` as it is, whatever was stored before. */
export function replacing(record: MirrorRecord): { id: string; update(): MirrorRecord } {
  return { id: record.session_id, update: () => record };
}

/** The guard's own draft check, under the default bounds. */
export function isDraft(value: unknown, key: readonly [string, string]): value is DraftRecord {
  return isDraftRecord(value, key, LIMITS);
}

/** The guard's own record policy, under the default bounds. */
export function policy(sessionId: string): RecordPolicy {
  return {
    upgrade: (value) => upgradeRecord(value, LIMITS),
    problem: (value) => recordProblem(value, sessionId, LIMITS),
  };
}
