"""Release check: the sdist and the wheel carry the built component, and the wheel works on its own.

    python .ci/wheel_smoke.py            # with the project's dev environment (build, playwright)

1. builds the sdist from this checkout and checks it holds the built frontend;
2. builds the wheel *from that sdist* with no Node.js on the PATH, as a
   user's machine would, and checks the wheel holds the built frontend;
3. installs the wheel (not editable) into a fresh venv, away from this checkout;
4. runs the demo with that venv's ``streamlit``, opens it in Chromium, waits
   for the guard component to come up, and fetches the component's
   ``index.html`` from the server (200).

Exits non-zero, saying which step failed, when anything is off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import venv
import zipfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from st_session_guard.testing import (
    free_port,
    guard_frame,
    launch_chromium,
    wait_for_run,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
BUILT = "st_session_guard/frontend/build/index.html"
COMPONENT_URL = "/component/st_session_guard.component.guard/index.html"


def step(message: str) -> None:
    print(f"wheel smoke: {message}", flush=True)


def run(*command: str | Path, **options: object) -> None:
    arguments = [str(part) for part in command]
    subprocess.run(arguments, check=True, **options)  # type: ignore[call-overload]


def build_sdist(out: Path) -> Path:
    run(sys.executable, "-m", "build", "--sdist", "--outdir", out, ROOT, stdout=subprocess.DEVNULL)
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    if not any(name.endswith(BUILT) for name in names):
        sys.exit(f"wheel smoke: {sdist.name} lacks {BUILT}")
    return sdist


def build_wheel_without_node(sdist: Path, out: Path, work: Path) -> Path:
    with tarfile.open(sdist) as archive:
        archive.extractall(work, filter="data")
    (source,) = [p for p in work.iterdir() if p.is_dir()]
    no_node = work / "empty-bin"
    no_node.mkdir()
    env = {**os.environ, "PATH": str(no_node)}  # npm and node cannot be found
    run(
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--outdir",
        out,
        source,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        if BUILT not in archive.namelist():
            sys.exit(f"wheel smoke: {wheel.name} lacks {BUILT}")
    return wheel


def install(wheel: Path, target: Path) -> Path:
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)
    # Imported from the venv's site-packages, not from this checkout.
    run(
        python,
        "-c",
        "import pathlib, st_session_guard as sg; "
        "p = pathlib.Path(sg.__file__).parent; "
        "assert 'site-packages' in str(p), p; "
        "assert (p / 'frontend' / 'build' / 'index.html').is_file()",
        cwd=target,
    )
    return target


def serve_demo(environment: Path, work: Path) -> None:
    app = work / "app"
    app.mkdir()
    shutil.copy(ROOT / "examples" / "demo_session_system.py", app / "demo.py")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "streamlit.log").open("wb")
    env = {**os.environ, "SESSION_GUARD_DATABASE_URL": f"sqlite:///{work / 'sessions.db'}"}
    env.pop("PYTHONPATH", None)
    server = subprocess.Popen(
        [
            environment / "bin" / "streamlit",
            "run",
            "demo.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=app,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        wait_until(lambda: _answers(f"{url}/_stcore/health", server), 60, "the demo's health check")
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(url)
            wait_for_run(page)
            try:
                guard_frame(page, timeout=90)  # the component's page loaded and its script ran
            except AssertionError:
                print(page.locator("body").inner_text(), file=sys.stderr)
                raise
            browser.close()
        with urllib.request.urlopen(f"{url}{COMPONENT_URL}", timeout=10) as response:
            body = response.read().decode()
            if response.status != 200 or "<script" not in body:
                sys.exit(f"wheel smoke: {COMPONENT_URL} answered {response.status}")
    except BaseException:
        log.flush()
        print((work / "streamlit.log").read_text(errors="replace"), file=sys.stderr)
        raise
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str, server: subprocess.Popen[bytes]) -> bool:
    if server.poll() is not None:
        raise RuntimeError("the demo exited early")
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stsg-wheel-") as temp:
        work = Path(temp)
        dist = work / "dist"
        step("building the sdist")
        sdist = build_sdist(dist)
        step(f"building the wheel from {sdist.name} without Node.js")
        wheel = build_wheel_without_node(sdist, work / "wheel", work / "unpacked")
        step(f"installing {wheel.name} into a fresh venv")
        environment = install(wheel, work / "venv")
        step("serving the demo from that venv")
        serve_demo(environment, work)
    step("ok")


if __name__ == "__main__":
    main()
