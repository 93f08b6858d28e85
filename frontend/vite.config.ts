import { fileURLToPath } from "node:url";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * Puts the entry chunk inside index.html. Streamlit serves a component's
 * files with no validator, so a reload fetches them anew from the Python
 * server; one file is one request where two were made one after the other,
 * on the path of a restore from the mirror (docs/performance.md). A build
 * with source maps keeps the file apart, for bench/bundle_size.py to read.
 */
function inlineEntry(): Plugin {
  let sourcemap = false;
  return {
    name: "stsg-inline-entry",
    apply: "build",
    enforce: "post",
    configResolved(config) {
      sourcemap = Boolean(config.build.sourcemap);
    },
    generateBundle(_options, bundle) {
      if (sourcemap) return;
      const html = bundle["index.html"];
      if (html?.type !== "asset") return;
      for (const [file, chunk] of Object.entries(bundle)) {
        if (chunk.type !== "chunk" || !chunk.isEntry) continue;
        if (/<\/script/i.test(chunk.code)) throw new Error(`${file} contains "</script": it cannot be inlined`);
        const tag = new RegExp(`<script type="module" crossorigin src="\\./${file.replace(/[.]/g, "\\.")}"></script>`);
        const source = String(html.source);
        if (!tag.test(source)) throw new Error(`index.html does not load ${file}`);
        html.source = source.replace(tag, () => `<script type="module">${chunk.code}</script>`);
        delete bundle[file];
      }
    },
  };
}

export default defineConfig({
  plugins: [inlineEntry()],
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
