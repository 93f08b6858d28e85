"""Build the guard component's frontend into the package before a wheel is made.

A wheel built from an sdist already carries the built files, so a machine
without Node.js installs it; a fresh clone has only the TypeScript, so the
hook runs npm there. No manual step either way.

An unpacked sdist is recognised by its ``PKG-INFO``: its build is used as it
is, whatever the files' times say (archives and the tools that unpack them
do not keep modification times reliably), and npm is never looked for.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUILD_DIR = Path("st_session_guard") / "frontend" / "build"


class FrontendBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        built = root / BUILD_DIR / "index.html"
        sources = root / "frontend" / "src"
        if built.exists() and (_unpacked_sdist(root) or not _sources_newer(sources, built)):
            return
        if not sources.exists():
            raise RuntimeError(f"{built} is missing and there is no frontend source to build it")
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("building st-session-guard from source needs Node.js and npm")
        install = "ci" if (root / "package-lock.json").exists() else "install"
        subprocess.run([npm, install, "--no-audit", "--no-fund"], cwd=root, check=True)
        subprocess.run([npm, "run", "build"], cwd=root, check=True)


def _unpacked_sdist(root: Path) -> bool:
    """True in an unpacked sdist (which has ``PKG-INFO``), False in a source checkout."""
    return (root / "PKG-INFO").is_file()


def _sources_newer(sources: Path, built: Path) -> bool:
    built_at = built.stat().st_mtime
    return any(p.stat().st_mtime > built_at for p in sources.rglob("*") if p.is_file())
