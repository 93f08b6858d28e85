import { describe, expect, it, vi } from "vitest";
import {
  captureDrafts,
  classesOf,
  committedDrafts,
  draftKeyOf,
  keyClass,
  liveDrafts,
  type ElementLike,
} from "../src/drafts";
import type { DraftRecord } from "../src/protocol";
import { applyChanges, emptyRecord } from "../src/revisions";

const el = (classes: string[], parent: ElementLike | null = null): ElementLike => ({
  classList: classes,
  parentElement: parent,
});

const paths = { name_w: ["contact", "name"], email_w: ["contact", "email"] } as const;
const record = applyChanges(emptyRecord("s1"), [
  { p: ["forms", "contact", "name"], v: "Ada", r: 200 },
]);
const draft = (key: string, base: number): DraftRecord => ({ session_id: "s1", key, value: "x", base, ts: 1 });

describe("draft capture", () => {
  it("spells container classes the way Streamlit does", () => {
    expect(keyClass("name_w")).toBe("st-key-name_w");
    expect(keyClass(" my key.v2 ")).toBe("st-key-my-key-v2");
  });

  it("finds the widget key of the nearest keyed container around the target", () => {
    const classes = classesOf({ "my key": ["contact", "name"] });
    const container = el(["stTextInput", "st-key-my-key"], el(["st-key-some_form"]));
    const input = el([], el(["inner"], container));
    expect(draftKeyOf(input, classes, new Set())).toBe("my key");
  });

  it("gives no key for a keyed container the server has not named", () => {
    expect(draftKeyOf(el([], el(["st-key-other"])), new Map(), new Set())).toBeUndefined();
    expect(draftKeyOf(el([], el(["stTextInput"])), new Map(), new Set())).toBeUndefined();
  });

  it("never gives a key for a widget the app excludes, even inside or around a named one", () => {
    const excluded = new Set([keyClass("ssn")]);
    const named = classesOf({ ssn: ["f", "ssn"], form: ["f", "x"] });
    expect(draftKeyOf(el([], el(["st-key-ssn"], el(["st-key-form"]))), named, excluded)).toBeUndefined();
    expect(draftKeyOf(el([], el(["st-key-form"], el(["st-key-ssn"]))), named, excluded)).toBeUndefined();
  });

  it("drafts typed over their path's current revision are offered", () => {
    expect(liveDrafts([draft("name_w", 200), draft("email_w", 0)], paths, record)).toEqual([
      { key: "name_w", value: "x", base: 200 },
      { key: "email_w", value: "x", base: 0 },
    ]);
  });

  it("drafts typed over an older revision of their path are not offered but dropped", () => {
    const drafts = [draft("name_w", 150), draft("name_w_at_commit", 199)];
    const withCommit = { ...paths, name_w_at_commit: ["contact", "name"] } as const;
    expect(liveDrafts(drafts, withCommit, record)).toEqual([]);
    expect(committedDrafts(drafts, withCommit, record)).toEqual(["name_w", "name_w_at_commit"]);
    expect(committedDrafts([draft("name_w", 200)], paths, record)).toEqual([]);
  });

  it("drafts of widgets the server did not name are neither offered nor dropped", () => {
    expect(liveDrafts([draft("gone", 999)], paths, record)).toEqual([]);
    expect(committedDrafts([draft("gone", 1)], paths, record)).toEqual([]);
  });

  it("listens for input in the capture phase and reports keyed, non-password fields", () => {
    const listeners: Array<[string, (e: Event) => void, unknown]> = [];
    const doc = {
      addEventListener: (type: string, fn: (e: Event) => void, opts: unknown) =>
        listeners.push([type, fn, opts]),
      removeEventListener: vi.fn(),
    } as unknown as Document;
    const onDraft = vi.fn();
    const stop = captureDrafts(doc, (node, value) => {
      const key = draftKeyOf(node, classesOf(paths), new Set());
      if (key !== undefined) onDraft(key, value);
    });
    const [type, fire, capture] = listeners[0]!;
    expect([type, capture]).toEqual(["input", true]);

    const container = el(["st-key-name_w"]);
    const typed = (parent: ElementLike | null, extra: Record<string, string>) => ({
      ...el([], parent),
      ...extra,
      getAttribute: (name: string) => extra[name] ?? null,
    });
    const target = (extra: Record<string, string>) => ({ target: typed(container, extra) }) as unknown as Event;
    fire(target({ tagName: "INPUT", type: "text", value: "Ad" }));
    fire(target({ tagName: "TEXTAREA", value: "long" }));
    fire(target({ tagName: "INPUT", type: "password", value: "secret" }));
    fire(target({ tagName: "DIV", value: "x" }));
    fire(target({ tagName: "INPUT", type: "checkbox", value: "on" }));
    fire(target({ tagName: "INPUT", type: "range", value: "5" }));
    fire(target({ tagName: "INPUT", type: "text", value: "filter", role: "combobox" }));
    fire({ target: typed(null, { tagName: "INPUT", type: "text", value: "unkeyed" }) } as unknown as Event);
    expect(onDraft.mock.calls).toEqual([
      ["name_w", "Ad"],
      ["name_w", "long"],
    ]);
    stop();
    expect(doc.removeEventListener).toHaveBeenCalledWith("input", fire, true);
  });
});
