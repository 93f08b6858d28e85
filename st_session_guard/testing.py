"""pytest plugin: refresh-recovery tests of your own app in a real browser.

Installed with the package (entry point ``pytest11``); its fixtures are
inert until a test asks for them, and Playwright is imported only then.

- ``streamlit_server``: a factory; ``streamlit_server("app.py", env={...})``
  starts ``streamlit run`` on a free port and waits for its health check;
  ``streamlit_module_server`` does the same for servers a test module shares.
  A server's ``url`` is the app's root, ``url_for(page)`` one of its pages;
  its output goes to a log file in pytest's temporary folder, never the
  app's, and a failed test's report names that file and shows its end.
- ``stsg_browser`` / ``stsg_page``: Chromium through Playwright — a
  Playwright-installed browser first, else the system's ``chromium``.
- ``wait_for_run(page)``, ``reload_and_wait(page)``, ``read_mirror(page)``,
  ``wait_for_mirror(page, condition)``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

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
LOG_TAIL_CHARS: Final = 4000
"""How much of a server's log a failed test's report shows (the whole file is named there)."""


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
    """One ``streamlit run`` process; restartable on the same port, so a browser can reload.

    Its output (stdout and stderr, every start appended) goes to ``log_path``
    in ``log_dir``, a temporary folder unless given: never the app's folder.
    """

    def __init__(self, script: Path, cwd: Path, env: Mapping[str, str], port: int | None = None,
                 log_dir: Path | None = None, launcher: Sequence[str] = ()):
        """``launcher``: a command the server runs under (a profiler, say), its arguments first."""
        self.script = script
        self.launcher = list(launcher)
        self.cwd = cwd
        self.env = {**os.environ, **env}
        self.port = port or free_port()
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix="stsg-streamlit-"))
        self.log_path = log_dir / f"streamlit-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The app's root URL, ``http://127.0.0.1:<port>``: its default page; for ``page.goto``."""
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, page: str) -> str:
        """The URL of one page of a multipage app.

        ``page`` is the page's URL path (``url_path=`` of ``st.Page``: the
        name ``sg.navigation`` records), or its script (``"settings.py"``,
        ``"pages/2_Settings.py"``), whose URL path Streamlit infers as it does
        for ``st.Page`` and the ``pages/`` folder. ``""`` is the default page.
        """
        if page.endswith(".py"):
            from streamlit.source_util import page_icon_and_name

            page = page_icon_and_name(Path(page))[1]
        path = page.strip("/")
        return f"{self.url}/{urllib.parse.quote(path)}" if path else self.url

    def start(self, timeout: float = 60) -> StreamlitServer:
        command = [
            *self.launcher, sys.executable, "-m", "streamlit", "run", str(self.script),
            "--server.port", str(self.port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=log, stderr=log)
        wait_until(self._healthy, timeout, f"streamlit on port {self.port} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"streamlit exited early (log: {self.log_path}):\n{self.log()}")
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
        """Everything the server printed so far, across restarts."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


_SERVERS: Final = pytest.StashKey[list[StreamlitServer]]()
"""The servers a test (or a test module) started, for the report of a test that fails."""


@contextlib.contextmanager
def _server_factory(workdir: Path, node: pytest.Item | pytest.Collector) -> Iterator[Callable[..., StreamlitServer]]:
    """``start(script, env=None, cwd=None, port=None)`` -> a started server; all stopped on exit.

    Servers run in ``cwd`` (``workdir`` unless given) and log into ``workdir``.
    """
    servers = node.stash.setdefault(_SERVERS, [])

    def start(script: str | Path, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              port: int | None = None) -> StreamlitServer:
        server = StreamlitServer(Path(script).resolve(), cwd or workdir, env or {}, port, log_dir=workdir)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
        servers.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report names each server's log file and shows its end."""
    report = yield
    if report.failed:
        for node in item.listchain():
            for server in node.stash.get(_SERVERS, []):
                text = server.log()
                report.sections.append(
                    (f"streamlit server log {server.log_path}", text[-LOG_TAIL_CHARS:] or "(empty)")
                )
    return report


@pytest.fixture
def streamlit_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., StreamlitServer]]:
    """Factory: ``streamlit_server(script, env=None, cwd=None, port=None)`` -> a server for this test only.

    For a test that stops, kills or restarts its server, or needs an empty database.
    The server runs in ``cwd`` (default: the test's ``tmp_path``) and logs into ``tmp_path``.
    """
    with _server_factory(tmp_path, request.node) as start:
        yield start


@pytest.fixture(scope="module")
def streamlit_module_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., StreamlitServer]]:
    """Factory like ``streamlit_server``, but its servers run until the test module ends.

    Shared by the module's tests, so a test must not stop it, and must tell its
    own session apart from the others' (by id: ``stsg_page`` gives each test a
    fresh browser context, hence a fresh cookie and session) and its own log
    lines (``server.log()[start:]``, with ``start`` taken when the test began).
    """
    with _server_factory(tmp_path_factory.mktemp("streamlit"), request.node) as start:
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


def wait_for_mirror(
    page: Page, condition: Callable[[dict[str, Any]], object] | None = None, timeout: float = 15.0
) -> dict[str, Any]:
    """The tab's IndexedDB record once there is one and ``condition(record)`` holds; fail at ``timeout``.

    Await the browser's copy before crashing the server: what the mirror holds
    is what a reload after the crash can bring back.
    """
    def ready() -> dict[str, Any] | None:
        record = read_mirror(page)
        return record if record is not None and (condition is None or condition(record)) else None

    what = "the browser mirror" if condition is None else "the browser mirror to hold what the test awaits"
    record = wait_until(ready, timeout, what)
    assert record is not None  # wait_until returns only a truthy value
    return record
