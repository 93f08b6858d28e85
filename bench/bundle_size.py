"""Size of the guard component's built bundle (gzip), and what dominates it.

The component is built with vite into a temporary directory, with source
maps, so that every byte of the output can be put down to the source file,
and so to the package, it came from. The baseline, built in the same run, is
the smallest entry a component can have with Streamlit's own library: one
that imports only ``Streamlit`` from ``streamlit-component-lib`` and says it
is ready (the guard speaks Streamlit's messages itself, ``frontend/src/bridge.ts``).
The installed build in ``st_session_guard/frontend/build`` (the script inside
``index.html``) is reported as well, since that is what users download.

    python bench/bundle_size.py
"""

from __future__ import annotations

import gzip
import json
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from common import ROOT, header, verdict

B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
MINIMAL_ENTRY = 'import { Streamlit } from "streamlit-component-lib";\nStreamlit.setComponentReady();\n'


def build(out: Path) -> list[Path]:
    """``vite build`` of the component into ``out``, with source maps; the JS files."""
    command = ["npx", "vite", "build", "--config", "frontend/vite.config.ts", "--outDir", str(out),
               "--sourcemap", "--emptyOutDir", "--logLevel", "warn"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return sorted(out.rglob("*.js"))


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


def _vlq(segment: str) -> list[int]:
    values, shift, value = [], 0, 0
    for char in segment:
        digit = B64[char]
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
        else:
            values.append(-(value >> 1) if value & 1 else value >> 1)
            shift = value = 0
    return values


def owner(source: str) -> str:
    """The package a source file belongs to (``ours`` for the component's own code)."""
    if "node_modules/" in source:
        rest = source.rsplit("node_modules/", 1)[1].split("/")
        return "/".join(rest[:2]) if rest[0].startswith("@") else rest[0]
    return "ours (frontend/src)" if "frontend/src" in source or source.startswith("src/") else source


def attribute(js: Path) -> Counter[str]:
    """Output bytes of ``js`` per package, from its source map (unmapped bytes count as "unmapped")."""
    text = js.read_text()
    mapping = json.loads(js.with_suffix(".js.map").read_text())
    sources = [owner(s) for s in mapping["sources"]]
    sizes: Counter[str] = Counter()
    source = 0
    lines = text.split("\n")
    for number, encoded in enumerate(mapping["mappings"].split(";")):
        line = lines[number] if number < len(lines) else ""
        column, spans = 0, []
        for segment in filter(None, encoded.split(",")):
            fields = _vlq(segment)
            column += fields[0]
            if len(fields) >= 4:
                source += fields[1]
                spans.append((column, sources[source]))
            else:
                spans.append((column, "unmapped"))
        for i, (start, name) in enumerate(spans):
            end = spans[i + 1][0] if i + 1 < len(spans) else len(line)
            sizes[name] += len(line[start:end].encode())
        if spans and spans[0][0] > 0:
            sizes["unmapped"] += spans[0][0]
    return sizes


def main() -> None:
    header("bundle size of the guard component")
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
        ours = build(Path(tmp, "ours"))
        raw = sum(p.stat().st_size for p in ours)
        zipped = sum(gz(p.read_bytes()) for p in ours)
        shares: Counter[str] = Counter()
        for js in ours:
            shares.update(attribute(js))

        minimal_root = Path(tmp, "minimal")
        minimal_root.mkdir()
        (minimal_root / "index.html").write_text(
            '<!doctype html><html><body><script type="module" src="./main.ts"></script></body></html>')
        (minimal_root / "main.ts").write_text(MINIMAL_ENTRY)
        node_modules = minimal_root / "node_modules"
        node_modules.symlink_to(ROOT / "node_modules")
        minimal_out = Path(tmp, "minimal-out")
        subprocess.run(["npx", "vite", "build", str(minimal_root), "--outDir", str(minimal_out),
                        "--emptyOutDir", "--base", "./", "--logLevel", "warn"],
                       cwd=ROOT, check=True, capture_output=True, text=True)
        minimal = list(minimal_out.rglob("*.js"))
        minimal_raw = sum(p.stat().st_size for p in minimal)
        minimal_zipped = sum(gz(p.read_bytes()) for p in minimal)

    installed = [p for p in (ROOT / "st_session_guard" / "frontend" / "build").rglob("*")
                 if p.suffix in (".js", ".html")]
    installed_zipped = sum(gz(p.read_bytes()) for p in installed)
    total = sum(shares.values()) or 1
    print(f"   built now: {raw:,} B ({zipped:,} B gzip) in {len(ours)} file(s);"
          f" installed build: {sum(p.stat().st_size for p in installed):,} B ({installed_zipped:,} B gzip)")
    print("   what the output is made of (bytes before gzip, by package):")
    for name, size in shares.most_common(8):
        print(f"     {size:>8,} B  {size / total:6.1%}  {name}")
    verdict(
        "guard component bundle",
        f"{zipped:,} B gzip ({raw:,} B); largest part {shares.most_common(1)[0][0]}"
        f" {shares.most_common(1)[0][1] / total:.0%}",
        f"streamlit-component-lib alone {minimal_zipped:,} B gzip ({minimal_raw:,} B)",
        f"{zipped / minimal_zipped:.2f}x",
        "report",
        None,
    )


if __name__ == "__main__":
    main()
