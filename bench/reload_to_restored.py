"""Reload until the restored values are painted, against plain Streamlit painting the same values
(target: at most 1.15 times).

Two servers run side by side: ``apps/plain_form.py`` (ten widgets, the
values hard-coded) and ``apps/guarded_form.py`` (the same ten widgets through
``sg.*`` with different declared defaults, the values restored from a
session in its SQLite database, named by a signed ``stsg`` cookie). Each
page is reloaded in Chromium, alternately, and the figure per reload is the
first animation frame, counted from the start of the navigation, in which
all ten widgets show the expected values.

The component-first path is timed the same way: the server's row holds
older values (the declared defaults) and the browser mirror in IndexedDB
holds the newer ones, as after a crash inside the write-behind window; the
guard sends the mirror back, which costs a rerun. Two more cases are
probed once: a cookie naming a session the server has no row for (a fresh
server database), and no cookie at all.

    python bench/reload_to_restored.py [--reloads 15]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from browser import (
    chromium,
    fresh_session_id,
    mirror_record,
    newer_copy,
    put_mirror,
    recorder,
    reload_and_record,
    session_cookie,
    start_app,
    store_session,
)
from common import header, median, quartiles, verdict
from form_spec import FORM, defaults, restored
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from st_session_guard.session import UserSession


def open_page(browser: Any, url: str, script: str, cookies: list[dict[str, Any]] | None = None) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    if cookies:
        context.add_cookies(cookies)
    context.add_init_script(script)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_function("() => window.__bench && window.__bench.restoredAt !== null")
    return page


def describe(label: str, times: list[float]) -> str:
    low, high = quartiles(times)
    return f"{label} median {median(times):.0f} ms (IQR {low:.0f}-{high:.0f}, n={len(times)})"


def prepare_component_case(page: Any, server: Any, database_url: str, with_row: bool) -> UserSession:
    """A session whose newest values are only in the mirror; its cookie set in ``page``'s context."""
    if with_row:
        older = store_session(database_url, defaults())
    else:
        older = UserSession(None, fresh_session_id())
        for key, value in defaults().items():
            older.update_form_data(FORM, key, value)
    newer = newer_copy(older, restored())
    put_mirror(page, mirror_record(newer))
    page.context.clear_cookies()
    page.context.add_cookies([session_cookie(server, older.session_id)])
    return newer


def probe(page: Any, label: str) -> str:
    """One reload that may never paint the mirror's values; what happened."""
    try:
        result = reload_and_record(page, timeout_ms=8000)
    except PlaywrightTimeout:
        seen = page.evaluate("() => window.__bench.seen")
        return f"{label}: NOT restored within 8 s; the widgets show {dict(sorted(seen.items()))}"
    return f"{label}: restored after {result['restoredAt']:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=15, help="per app (at least 10)")
    parser.add_argument("--component-reloads", type=int, default=10)
    args = parser.parse_args()
    header(f"reload to restored: {args.reloads} reloads per app, interleaved")
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
        plain_dir, guarded_dir = Path(tmp, "plain"), Path(tmp, "guarded")
        plain_dir.mkdir()
        guarded_dir.mkdir()
        database_url = f"sqlite:///{guarded_dir / 'sessions.db'}"
        plain, guarded = start_app("plain_form", plain_dir), start_app("guarded_form", guarded_dir)
        try:
            with chromium() as browser:
                session = store_session(database_url, restored())
                script = recorder(restored())
                plain_page = open_page(browser, plain.url, script)
                guarded_page = open_page(browser, guarded.url, script,
                                         [session_cookie(guarded, session.session_id)])
                for _ in range(2):  # warm both servers and the browser cache
                    reload_and_record(plain_page)
                    reload_and_record(guarded_page)
                plain_ms: list[float] = []
                guarded_ms: list[float] = []
                flashes = 0
                for i in range(args.reloads):
                    order = [(plain_page, plain_ms), (guarded_page, guarded_ms)]
                    for page, into in order if i % 2 else reversed(order):
                        result = reload_and_record(page)
                        into.append(result["restoredAt"])
                        if page is guarded_page:
                            flashes += result["defaultFrames"]
                print("   " + describe("plain", plain_ms))
                print("   " + describe("cookie path (st-session-guard)", guarded_ms))
                ratio = median(guarded_ms) / median(plain_ms)
                verdict("reload until restored values are painted (cookie path)",
                        f"{median(guarded_ms):.0f} ms median", f"plain Streamlit {median(plain_ms):.0f} ms",
                        f"{ratio:.2f}x", "<= 1.15x", ratio <= 1.15)
                if flashes:
                    print(f"   note: {flashes} frames showed a declared default on the cookie path")

                # The component-first path: the mirror is newer than the server's row.
                component_page = guarded_page
                component_ms: list[float] = []
                baseline_ms: list[float] = []
                stale_frames: list[int] = []
                for i in range(args.component_reloads):
                    prepare_component_case(component_page, guarded, database_url, with_row=True)
                    result = reload_and_record(component_page)
                    component_ms.append(result["restoredAt"])
                    stale_frames.append(result["defaultFrames"])
                    baseline_ms.append(reload_and_record(plain_page)["restoredAt"])
                print("   " + describe("plain", baseline_ms))
                print("   " + describe("component path (row older than the mirror)", component_ms))
                print(f"   frames showing the server's older values before the mirror's: "
                      f"median {median(stale_frames):.0f}")
                ratio = median(component_ms) / median(baseline_ms)
                verdict("reload until restored values are painted (component-first path)",
                        f"{median(component_ms):.0f} ms median", f"plain Streamlit {median(baseline_ms):.0f} ms",
                        f"{ratio:.2f}x (costs {median(component_ms) - median(baseline_ms):.0f} ms more)",
                        "report (fallback path)", None)

                prepare_component_case(component_page, guarded, database_url, with_row=False)
                print("   " + probe(component_page, "cookie valid, no row on the server (fresh database)"))
                prepare_component_case(component_page, guarded, database_url, with_row=True)
                component_page.context.clear_cookies()
                print("   " + probe(component_page, "no cookie, the mirror holds newer values"))
        finally:
            plain.stop()
            guarded.stop()


if __name__ == "__main__":
    main()
