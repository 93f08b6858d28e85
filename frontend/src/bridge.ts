// Streamlit's v1 component messages, the three this component sends and the
// one it receives, in place of streamlit-component-lib: that library brings
// apache-arrow, four fifths of the bundle, which a reload after a crash must
// fetch and run before the mirror can be sent back (docs/performance.md).

/** The component API version Streamlit speaks (there is one). */
export const API_VERSION = 1;
export const RENDER = "streamlit:render";

/** The app's window as this frame sees it: only something to post to. */
export interface AppWindow {
  postMessage(message: unknown, targetOrigin: string): void;
}

function post(app: AppWindow, type: string, data: Record<string, unknown>): void {
  app.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

/** Tells Streamlit the frame listens; it sends no render before this. */
export function setComponentReady(app: AppWindow): void {
  post(app, "streamlit:componentReady", { apiVersion: API_VERSION });
}

export function setFrameHeight(app: AppWindow, height: number): void {
  post(app, "streamlit:setFrameHeight", { height });
}

/** Hands `value` (JSON) to Python as the component's value, which reruns the script. */
export function setComponentValue(app: AppWindow, value: unknown): void {
  post(app, "streamlit:setComponentValue", { value, dataType: "json" });
}

/**
 * The args of a render message that `app` posted; undefined for any other
 * message, or one posted by another window (another frame of the page).
 */
export function renderArgs(event: { source: unknown; data: unknown }, app: AppWindow): Record<string, unknown> | undefined {
  const data = event.data;
  if (event.source !== app || typeof data !== "object" || data === null) return undefined;
  const { type, args } = data as { type?: unknown; args?: unknown };
  if (type !== RENDER || typeof args !== "object" || args === null) return undefined;
  return args as Record<string, unknown>;
}
