// Entry point of the component frame: wires Streamlit's render events, the
// page lifecycle and the app's typing to the guard. Draws nothing.

import { Streamlit } from "streamlit-component-lib";
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
// reruns and shows the other's edits.
const peers = typeof BroadcastChannel === "function" ? new BroadcastChannel("st-session-guard") : null;

const guard = new Guard({
  send: (message) => Streamlit.setComponentValue(message),
  openDatabase: () => openMirror(globalThis.indexedDB),
  setCookie: (line) => {
    document.cookie = line;
  },
  secure: location.protocol === "https:",
  now: () => Date.now(),
  warn: (message) => console.warn(message),
  announce: (sessionId, revision) => peers?.postMessage({ session_id: sessionId, revision }),
});
if (peers !== null) {
  peers.onmessage = (event: MessageEvent<{ session_id?: unknown; revision?: unknown }>) =>
    void guard.nudge(event.data?.session_id, event.data?.revision);
}

/** The app's window, reachable because the frame is same-origin; null when it is not. */
function appWindow(): Window | null {
  try {
    return window.parent !== window && window.parent.document !== null ? window.parent : null;
  } catch {
    return null;
  }
}

const flush = (): void => void guard.flush();
const flushIfHidden = (event: Event): void => {
  if ((event.target as Document).visibilityState === "hidden") flush();
};

window.addEventListener("pagehide", flush);
document.addEventListener("visibilitychange", flushIfHidden);

// A refresh or a closed tab is seen by the app's window first, and the frame
// may be torn down before its own events fire, so listen there too.
const app = appWindow();
let detach = (): void => {};
if (app !== null) {
  const stopDrafts = captureDrafts(
    app.document,
    (el, value) => guard.typed(el, value),
  );
  app.addEventListener("pagehide", flush);
  app.document.addEventListener("visibilitychange", flushIfHidden);
  detach = () => {
    stopDrafts();
    app.removeEventListener("pagehide", flush);
    app.document.removeEventListener("visibilitychange", flushIfHidden);
  };
}

// When Streamlit removes the frame, the app's document must not keep calling
// into a dead frame; a frame kept in the back/forward cache keeps listening.
window.addEventListener("pagehide", (event) => {
  if (!event.persisted) detach();
});

Streamlit.events.addEventListener(Streamlit.RENDER_EVENT, (event) => {
  // Python passes the whole message as one argument, `guard`, a one-element
  // array (docs/protocol.md).
  const wrapped = (event as CustomEvent<{ args: { guard?: unknown } }>).detail.args.guard;
  void guard.render(Array.isArray(wrapped) ? wrapped[0] : undefined);
});

window.stSessionGuard = {
  dump: () => guard.dump(),
  clear: () => guard.clear(),
  get revision() {
    return guard.revision;
  },
};

Streamlit.setComponentReady();
Streamlit.setFrameHeight(0);
