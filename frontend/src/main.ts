// Entry point of the component frame: wires Streamlit's render events, the
// page lifecycle and the app's typing to the guard. Draws nothing.

import { renderArgs, setComponentReady, setComponentValue, setFrameHeight } from "./bridge";
import { captureDrafts } from "./drafts";
import { Guard } from "./guard";
import { openMirror } from "./mirror";
import type { MirrorRecord } from "./protocol";

declare global {
  interface Window {
    /** Devtools handle: inspect or wipe this session's mirror. */
    stSessionGuard?: {
      dump(): Promise<MirrorRecord | undefined>;
      clear(): Promise<void>;
      readonly revision: number;
    };
  }
}

// Tabs of one session tell each other when the server moved on, so each
// reruns and shows the other's edits; every tab of the browser hears when a
// session ended, so none writes its cookie back.
const peers = typeof BroadcastChannel === "function" ? new BroadcastChannel("st-session-guard") : null;

/** The app's window, reachable because the frame is same-origin; null when it is not. */
function appWindow(): Window | null {
  try {
    return window.parent !== window && window.parent.document !== null ? window.parent : null;
  } catch {
    return null;
  }
}

const app = appWindow();

/** How long after a click, key or typing in the app a rerun of ours waits: it could cut short the run the click started, or push a value over the typing. */
const INPUT_SETTLE_MS = 500;
const IDLE_POLL_MS = 100;
let lastInput = 0;

/** Script states of the app root (its data-test-script-state) in which a run is on or asked for. */
const BUSY_STATES: ReadonlySet<string> = new Set(["running", "rerunRequested", "stopRequested"]);

/**
 * Resolves once the app's script is not running or about to (a build that
 * does not say is taken as idle) and no click, key or typing landed in the
 * last INPUT_SETTLE_MS.
 */
function whenIdle(): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      const state = app?.document.querySelector('[data-testid="stApp"]')?.getAttribute("data-test-script-state");
      const busy = state !== null && state !== undefined && BUSY_STATES.has(state);
      if (!busy && Date.now() - lastInput >= INPUT_SETTLE_MS) resolve();
      else setTimeout(check, IDLE_POLL_MS);
    };
    check();
  });
}

function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

// Opened now, while Streamlit answers the frame's ready message with the
// first render, rather than when that render asks for the mirror: a reload
// after a crash waits on both (docs/performance.md).
const mirror = openMirror(globalThis.indexedDB);
mirror.catch(() => undefined); // the guard hears of a failure when it asks

const guard = new Guard({
  send: (message) => setComponentValue(window.parent, message),
  openDatabase: () => mirror,
  setCookie: (line) => {
    document.cookie = line;
  },
  getCookie: readCookie,
  secure: location.protocol === "https:",
  now: () => Date.now(),
  warn: (message) => console.warn(message),
  announce: (sessionId, revision) => peers?.postMessage({ session_id: sessionId, revision }),
  announceEnded: (sessionIds) => peers?.postMessage({ ended: sessionIds }),
  whenIdle,
});
if (peers !== null) {
  peers.onmessage = (event: MessageEvent<{ session_id?: unknown; revision?: unknown; ended?: unknown }>) => {
    if (event.data?.ended !== undefined) void guard.peerEnded(event.data.ended);
    else void guard.nudge(event.data?.session_id, event.data?.revision);
  };
}

const flush = (): void => void guard.flush();
const flushIfHidden = (event: Event): void => {
  if ((event.target as Document).visibilityState === "hidden") flush();
};

window.addEventListener("pagehide", flush);
document.addEventListener("visibilitychange", flushIfHidden);

// A refresh or a closed tab is seen by the app's window first, and the frame
// may be torn down before its own events fire, so listen there too.
let detach = (): void => {};
if (app !== null) {
  const stopDrafts = captureDrafts(
    app.document,
    (el, value) => guard.typed(el, value),
  );
  const noteInput = (): void => {
    lastInput = Date.now();
  };
  app.addEventListener("pagehide", flush);
  app.document.addEventListener("visibilitychange", flushIfHidden);
  app.document.addEventListener("pointerdown", noteInput, true);
  app.document.addEventListener("keydown", noteInput, true);
  app.document.addEventListener("input", noteInput, true);
  detach = () => {
    stopDrafts();
    app.removeEventListener("pagehide", flush);
    app.document.removeEventListener("visibilitychange", flushIfHidden);
    app.document.removeEventListener("pointerdown", noteInput, true);
    app.document.removeEventListener("keydown", noteInput, true);
    app.document.removeEventListener("input", noteInput, true);
  };
}

// When Streamlit removes the frame, the app's document must not keep calling
// into a dead frame; a frame kept in the back/forward cache keeps listening.
window.addEventListener("pagehide", (event) => {
  if (!event.persisted) detach();
});

window.addEventListener("message", (event) => {
  const args = renderArgs(event, window.parent);
  if (args === undefined) return;
  // Python passes the whole message as one argument, `guard`, a one-element
  // array (docs/protocol.md).
  const wrapped = args.guard;
  void guard.render(Array.isArray(wrapped) ? wrapped[0] : undefined);
});

window.stSessionGuard = {
  dump: () => guard.dump(),
  clear: () => guard.clear(),
  get revision() {
    return guard.revision;
  },
};

setComponentReady(window.parent);
setFrameHeight(window.parent, 0);
