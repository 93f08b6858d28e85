"""pytest plugin: refresh-recovery tests of your own app in a real browser.

Installed with the package (entry point ``pytest11``); its fixtures are
inert until a test asks for them, and Playwright is imported only then.

- ``streamlit_server``: a factory; ``streamlit_server("app.py", env={...})``
  starts ``streamlit run`` on a free port and waits for its health check;
  ``streamlit_module_server`` does the same for servers a test module shares.
- ``stsg_browser`` / ``stsg_page``: Chromium through Playwright — a
  Playwright-installed browser first, else the system's ``chromium``.
- ``wait_for_run(page)``, ``reload_and_wait(page)``, ``read_mirror(page)``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Frame, Page

SYSTEM_CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GUARD_FRAME = "st_session_guard.component.guard"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 15.0, what: str = "", interval: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


class StreamlitServer:
    """One ``streamlit run`` process; restartable on the same port, so a browser can reload."""

    def __init__(self, script: Path, cwd: Path, env: Mapping[str, str], port: int | None = None):
        self.script = script
        self.cwd = cwd
        self.env = {**os.environ, **env}
        self.port = port or free_port()
        self.log_path = cwd / f"streamlit-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> StreamlitServer:
        command = [
            sys.executable, "-m", "streamlit", "run", str(self.script),
            "--server.port", str(self.port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=log, stderr=log)
        wait_until(self._healthy, timeout, f"streamlit on port {self.port}")
        return self

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{self.log()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(
            f"{self.url}/_stcore/health", timeout=1
        ) as response:
            return bool(response.status == 200)
        return False

    def stop(self, kill: bool = False) -> None:
        """End the server: SIGTERM lets it flush; ``kill=True`` is a crash (SIGKILL)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, kill: bool = False) -> StreamlitServer:
        self.stop(kill=kill)
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def _server_factory(workdir: Path) -> Iterator[Callable[..., StreamlitServer]]:
    """``start(script, env=None, cwd=None, port=None)`` -> a started server; all stopped on exit."""
    servers: list[StreamlitServer] = []

    def start(script: str | Path, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              port: int | None = None) -> StreamlitServer:
        server = StreamlitServer(Path(script).resolve(), cwd or workdir, env or {}, port)
        servers.append(server.start())
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def streamlit_server(tmp_path: Path) -> Iterator[Callable[..., StreamlitServer]]:
    """Factory: ``streamlit_server(script, env=None, cwd=None)`` -> a server for this test only.

    For a test that stops, kills or restarts its server, or needs an empty database.
    """
    with _server_factory(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def streamlit_module_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., StreamlitServer]]:
    """Factory like ``streamlit_server``, but its servers run until the test module ends.

    Shared by the module's tests, so a test must not stop it, and must tell its
    own session apart from the others' (by id: ``stsg_page`` gives each test a
    fresh browser context, hence a fresh cookie and session) and its own log
    lines (``server.log()[start:]``, with ``start`` taken when the test began).
    """
    with _server_factory(tmp_path_factory.mktemp("streamlit")) as start:
        yield start


def launch_chromium(playwright: Any) -> Browser:
    """A Playwright-installed Chromium if there is one, else the system's ``chromium``."""
    try:
        browser: Browser = playwright.chromium.launch()
        return browser
    except Exception as error:  # Playwright's own browser is not installed
        system = shutil.which("chromium") or "/usr/bin/chromium"
        if not Path(system).exists():
            raise RuntimeError("no Chromium: run `playwright install chromium` or install chromium") from error
        browser = playwright.chromium.launch(executable_path=system, args=SYSTEM_CHROMIUM_FLAGS)
        return browser


@pytest.fixture(scope="session")
def stsg_browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def stsg_page(stsg_browser: Browser) -> Iterator[Page]:
    context = stsg_browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def wait_for_run(page: Page) -> None:
    """Wait until the app is connected and its script has finished running."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
        '[data-test-script-state="notRunning"]',
        state="attached",
    )


def reload_and_wait(page: Page) -> None:
    page.reload()
    wait_for_run(page)


def guard_frame(page: Page, timeout: float = 30) -> Frame:
    """The guard component's frame, once its devtools handle is up.

    Waits inside Playwright (``wait_for_function``) rather than polling
    ``page.frames``: the synchronous API takes in the browser's events only
    while one of its calls is waiting, so a list of frames polled between
    sleeps never shows a frame attached after the first look.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """title => {
                const frame = document.querySelector(`iframe[title="${title}"]`);
                return frame !== null && typeof frame.contentWindow?.stSessionGuard === "object";
            }""",
            arg=GUARD_FRAME,
            timeout=timeout * 1000,
        )
    except PlaywrightTimeout as error:
        raise AssertionError(f"gave up after {timeout} s waiting for the guard component") from error
    for frame in page.frames:
        if GUARD_FRAME in frame.url:
            return frame
    raise AssertionError("the guard component's frame is up but Playwright does not list it")


def read_mirror(page: Page) -> dict[str, Any] | None:
    """The IndexedDB record of this tab's session, as the browser holds it now."""
    record = guard_frame(page).evaluate("() => window.stSessionGuard.dump()")
    return record if isinstance(record, dict) else None
