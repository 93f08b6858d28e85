// Uncommitted typing: text that sits in a wrapped widget but has not reached
// the server yet (no Enter, no blur). It is kept per widget key and offered
// back to the server on the next page load.

import { pathKey, type DraftOut, type DraftRecord, type MirrorRecord, type Path } from "./protocol";

/** Widget key -> [form id, field], as the args' `drafts` carry it. */
export type DraftPaths = Readonly<Record<string, readonly [string, string]>>;

export function draftPath([formId, field]: readonly [string, string]): Path {
  return ["forms", formId, field];
}

/**
 * The class Streamlit puts on a keyed widget's container, spelled the way its
 * frontend spells it (characters outside [A-Za-z0-9_-] become "-").
 */
export function keyClass(key: string): string {
  return "st-key-" + key.trim().replace(/[^a-zA-Z0-9_-]/g, "-");
}

/** Container class -> widget key, for the keys whose drafts are captured. */
export function classesOf(paths: DraftPaths): Map<string, string> {
  const classes = new Map<string, string>();
  for (const key of Object.keys(paths)) {
    const cls = keyClass(key);
    if (!classes.has(cls)) classes.set(cls, key);
  }
  return classes;
}

/** The little of an Element that matching needs, so it runs without a DOM. */
export interface ElementLike {
  readonly classList: Iterable<string>;
  readonly parentElement: ElementLike | null;
}

/**
 * The draft key of a typed-into element: the key of the nearest container
 * around it that the server named as a wrapped widget. Only those: an
 * unwrapped field, a password input (never named, whatever its DOM type after
 * the eye toggle) or any other keyed container gives nothing, and a key the
 * app excludes anywhere around the element wins over every other. A widget is
 * named from the run after the one that first drew it.
 */
export function draftKeyOf(
  el: ElementLike | null,
  known: ReadonlyMap<string, string>,
  excluded: ReadonlySet<string>,
): string | undefined {
  let key: string | undefined;
  for (let node = el; node !== null; node = node.parentElement) {
    for (const cls of node.classList) {
      if (excluded.has(cls)) return undefined;
      key ??= known.get(cls);
    }
  }
  return key;
}

const KEY_PREFIX = "st-key-";

/**
 * The class of the nearest keyed container around an element, or undefined
 * when there is none or a key the app excludes is anywhere around it.
 */
export function keyedClassOf(el: ElementLike | null, excluded: ReadonlySet<string>): string | undefined {
  let found: string | undefined;
  for (let node = el; node !== null; node = node.parentElement) {
    for (const cls of node.classList) {
      if (excluded.has(cls)) return undefined;
      if (found === undefined && cls.startsWith(KEY_PREFIX) && cls.length > KEY_PREFIX.length) found = cls;
    }
  }
  return found;
}

/** The mirror's revision of a named draft widget's path (0 when never set), or undefined for an unnamed key. */
export function pathRevision(record: MirrorRecord, paths: DraftPaths, key: string): number | undefined {
  const formField = paths[key];
  if (formField === undefined) return undefined;
  return record.revs[pathKey(draftPath(formField))] ?? 0;
}

/** Drafts whose path is still at the revision they were typed over; drafts of unknown keys are not offered. */
export function liveDrafts(
  drafts: Iterable<DraftRecord>,
  paths: DraftPaths,
  record: MirrorRecord,
): DraftOut[] {
  const out: DraftOut[] = [];
  for (const { key, value, base } of drafts) {
    const rev = pathRevision(record, paths, key);
    if (rev !== undefined && rev <= base) out.push({ key, value, base });
  }
  return out;
}

/** Keys of drafts whose path has changed since they were typed over it: committed, or overtaken. */
export function committedDrafts(
  drafts: Iterable<DraftRecord>,
  paths: DraftPaths,
  record: MirrorRecord,
): string[] {
  const out: string[] = [];
  for (const { key, base } of drafts) {
    const rev = pathRevision(record, paths, key);
    if (rev !== undefined && rev > base) out.push(key);
  }
  return out;
}

/** Input types whose typing is text a user could lose; never password. */
const TEXT_TYPES: ReadonlySet<string> = new Set(["text", "number", "email", "url", "search", "tel"]);

/** The little of a typed-into element that deciding needs. */
export interface TypedLike extends ElementLike {
  readonly tagName: string;
  readonly value?: unknown;
  readonly type?: unknown;
  getAttribute(name: string): string | null;
}

/** Text fields only: not passwords, checkboxes, sliders, or a selectbox's search box. */
export function isTextField(el: TypedLike): boolean {
  if (typeof el.value !== "string") return false;
  if (el.tagName === "TEXTAREA") return true;
  if (el.tagName !== "INPUT" || el.getAttribute("role") === "combobox") return false;
  return TEXT_TYPES.has(typeof el.type === "string" ? el.type : "text");
}

/**
 * Listens for typing in the app's document. Capture phase, because the
 * widgets may stop the event from bubbling. Targets come from the parent
 * frame, whose HTMLInputElement is not this frame's, so they are recognised
 * by tag name rather than instanceof. Returns the function that stops listening.
 */
export function captureDrafts(
  doc: Document,
  onTyped: (el: ElementLike, value: string) => void,
): () => void {
  const listener = (event: Event): void => {
    const target = event.target as (Element & TypedLike) | null;
    if (target !== null && isTextField(target)) onTyped(target, target.value as string);
  };
  doc.addEventListener("input", listener, true);
  return () => doc.removeEventListener("input", listener, true);
}
