import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("."),
  // Streamlit serves the component under /component/<name>/, so asset URLs must be relative.
  base: "./",
  // Keep vite's and vitest's caches in the one node_modules at the repo root.
  cacheDir: here("../node_modules/.vite"),
  build: {
    outDir: here("../st_session_guard/frontend/build"),
    emptyOutDir: true,
    // Nothing is loaded lazily, so the preload polyfill would be dead weight.
    modulePreload: { polyfill: false },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "node",
    setupFiles: ["tests/setup.ts"],
  },
});
