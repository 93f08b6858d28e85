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

/**
 * How long after a click, key or typing in the app a message of ours waits: its rerun could
 * cut short the run the click started, or push a value over the typing. A message of ours
 * counts too: the app shows the rerun it asks for only once it has taken the message.
 */
const INPUT_SETTLE_MS = 500;
let lastActivity = 0;

/** The app root's attribute naming its script state; a run is on or asked for in BUSY_STATES. */
const SCRIPT_STATE = "data-test-script-state";
const BUSY_STATES: ReadonlySet<string> = new Set(["running", "rerunRequested", "stopRequested"]);

function appBusy(): boolean {
  const state = app?.document.querySelector('[data-testid="stApp"]')?.getAttribute(SCRIPT_STATE);
  return state !== null && state !== undefined && BUSY_STATES.has(state);
}

/**
 * Resolves once the app's script is not running or about to (a build that
 * does not say is taken as idle) and no click, key, typing or message of
 * ours landed in the last INPUT_SETTLE_MS. It watches the script state
 * rather than polling it, so a message waiting for a run to end goes the
 * moment the app shows it ended, posted in the same task as that last look.
 * The app takes a posted message in a task of its own: a key pressed in
 * between, after half a second without input, still races it.
 */
function whenIdle(): Promise<void> {
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let watch: MutationObserver | undefined;
    const check = (): void => {
      clearTimeout(timer);
      if (appBusy()) return; // the state's next change calls check again
      const settle = INPUT_SETTLE_MS - (Date.now() - lastActivity);
      if (settle > 0) {
        timer = setTimeout(check, settle);
        return;
      }
      watch?.disconnect();
      resolve();
    };
    if (app !== null) {
      watch = new MutationObserver(check);
      watch.observe(app.document.documentElement, { subtree: true, attributes: true, attributeFilter: [SCRIPT_STATE] });
    }
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
  send: (message) => {
    lastActivity = Date.now();
    setComponentValue(window.parent, message);
  },
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
    lastActivity = Date.now();
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
