import { describe, expect, it } from "vitest";
import {
  API_VERSION,
  RENDER,
  renderArgs,
  setComponentReady,
  setComponentValue,
  setFrameHeight,
  type AppWindow,
} from "../src/bridge";

function app(): AppWindow & { posted: Array<[unknown, string]> } {
  const posted: Array<[unknown, string]> = [];
  return { posted, postMessage: (message, origin) => posted.push([message, origin]) };
}

describe("messages to Streamlit", () => {
  // The shapes Streamlit's ComponentInstance reads (what streamlit-component-lib posts).
  it("says ready with the API version", () => {
    const to = app();
    setComponentReady(to);
    expect(to.posted).toEqual([
      [{ isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: API_VERSION }, "*"],
    ]);
  });

  it("sets the frame height", () => {
    const to = app();
    setFrameHeight(to, 0);
    expect(to.posted).toEqual([[{ isStreamlitMessage: true, type: "streamlit:setFrameHeight", height: 0 }, "*"]]);
  });

  it("hands a value to Python as JSON", () => {
    const to = app();
    const value = { v: 1, type: "resync", seq: 1 };
    setComponentValue(to, value);
    expect(to.posted).toEqual([
      [{ isStreamlitMessage: true, type: "streamlit:setComponentValue", value, dataType: "json" }, "*"],
    ]);
  });
});

describe("render messages from Streamlit", () => {
  const parent = app();

  it("gives the args of a render the app posted", () => {
    const args = { guard: [{ v: 1 }] };
    expect(renderArgs({ source: parent, data: { type: RENDER, args, dfs: [], disabled: false } }, parent)).toBe(args);
  });

  it("ignores a render posted by another window", () => {
    expect(renderArgs({ source: app(), data: { type: RENDER, args: { guard: [] } } }, parent)).toBeUndefined();
  });

  it("ignores other messages and renders without args", () => {
    for (const data of [null, "text", { type: "other", args: {} }, { type: RENDER }, { type: RENDER, args: null }]) {
      expect(renderArgs({ source: parent, data }, parent)).toBeUndefined();
    }
  });
});

describe("the same messages streamlit-component-lib posts", () => {
  // The bridge stands in for the library at run time (apache-arrow would be four
  // fifths of the frame's script); the library stays the reference for what
  // Streamlit reads, so a change in either shows here.
  it("posts what Streamlit.setComponentReady, setFrameHeight and setComponentValue post", async () => {
    const library = app();
    const globals = globalThis as unknown as Record<string, unknown>;
    const saved = globals.window;
    globals.window = { parent: library, addEventListener: () => undefined };
    try {
      const { Streamlit } = await import("streamlit-component-lib");
      Streamlit.setComponentReady();
      Streamlit.setFrameHeight(0);
      Streamlit.setComponentValue({ v: 1, type: "resync", seq: 1 });
    } finally {
      globals.window = saved;
    }
    const ours = app();
    setComponentReady(ours);
    setFrameHeight(ours, 0);
    setComponentValue(ours, { v: 1, type: "resync", seq: 1 });
    expect(ours.posted).toEqual(library.posted);
    expect(library.posted).toHaveLength(3);
  });
});
