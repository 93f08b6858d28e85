"""Reload until the restored values are painted, against plain Streamlit painting the same values
(target: at most 1.05 times for each page shape; 1.25 times after a crash).

For each page shape of ``apps/form_spec.py`` (the ten-widget form, a
six-widget form with a password, fifty widgets, a form inside
``sg.navigation``) two servers run side by side: ``apps/plain_form.py`` (the
values hard-coded) and ``apps/guarded_form.py`` (the same widgets through
``sg.*`` with different declared defaults, the values restored from a
session in its SQLite database, named by a signed ``stsg`` cookie). Each
page is reloaded in Chromium, alternately, and the figure per reload is the
first animation frame, counted from the start of the navigation, in which
every watched widget shows the expected value.

A crash inside the write-behind window is timed the same way, on the
ten-widget form: the server's row holds older values (the declared
defaults) and the browser the newer ones. After such a crash the browser
holds them twice: in the unsaved-changes cookie, which the first script run
reads (the measured case), and in the IndexedDB mirror, which the guard
sends back after the first paint at the cost of a rerun (the
component-first path, reported beside it: what is left when the cookie did
not fit or was lost). A frame that shows an older value after the newer one
counts against either. Two more cases are probed once, with the mirror
alone: a cookie naming a session the server has no row for (a fresh server
database), and no cookie at all.

    python bench/reload_to_restored.py [--reloads 15] [--shapes bench six fifty navigation]
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
    unsaved_cookie,
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


def prepare_component_case(page: Any, server: Any, database_url: str, with_row: bool,
                           unsaved: bool = False) -> None:
    """A session whose newest values are only in the browser; its cookies set in ``page``'s context.

    With ``unsaved`` the browser also holds the unsaved-changes cookie the guard keeps while
    the server has not stored them; without it only the mirror has them (a cookie that did
    not fit, or a browser that dropped it)."""
    if with_row:
        older = store_session(database_url, defaults())
    else:
        older = UserSession(None, fresh_session_id())
        for key, value in defaults().items():
            older.update_form_data(FORM, key, value)
    newer = newer_copy(older, restored())
    put_mirror(page, mirror_record(newer))
    page.context.clear_cookies()
    cookies = [session_cookie(server, older.session_id)]
    if unsaved:
        cookies.append(unsaved_cookie(server, newer, older.revision))
    page.context.add_cookies(cookies)


def probe(page: Any, label: str) -> str:
    """One reload that may never paint the mirror's values; what happened."""
    try:
        result = reload_and_record(page, timeout_ms=8000)
    except PlaywrightTimeout:
        seen = page.evaluate("() => window.__bench.seen")
        return f"{label}: NOT restored within 8 s; the widgets show {dict(sorted(seen.items()))}"
    return f"{label}: restored after {result['restoredAt']:.0f} ms"


def start_pair(tmp: str, shape: str) -> tuple[Any, Any, str]:
    """The plain and the guarded app of ``shape``, each with its own directory; the guarded one's database."""
    plain_dir, guarded_dir = Path(tmp, shape, "plain"), Path(tmp, shape, "guarded")
    plain_dir.mkdir(parents=True)
    guarded_dir.mkdir(parents=True)
    env = {"BENCH_SHAPE": shape}
    plain = start_app("plain_form", plain_dir, env)
    try:
        guarded = start_app("guarded_form", guarded_dir, env)
    except BaseException:
        plain.stop()
        raise
    return plain, guarded, f"sqlite:///{guarded_dir / 'sessions.db'}"


def cookie_path(browser: Any, tmp: str, shape: str, reloads: int, component_reloads: int) -> None:
    """Reloads of one shape's plain and guarded pages, interleaved; on ``bench``, the component-first path too."""
    plain, guarded, database_url = start_pair(tmp, shape)
    try:
        suffix = "/form" if shape == "navigation" else ""
        session = store_session(database_url, restored(shape))
        script = recorder(restored(shape), shape=shape)
        plain_page = open_page(browser, plain.url + suffix, script)
        guarded_page = open_page(browser, guarded.url + suffix, script,
                                 [session_cookie(guarded, session.session_id)])
        for _ in range(2):  # warm both servers and the browser cache
            reload_and_record(plain_page)
            reload_and_record(guarded_page)
        plain_ms: list[float] = []
        guarded_ms: list[float] = []
        flashes = 0
        for i in range(reloads):
            order = [(plain_page, plain_ms), (guarded_page, guarded_ms)]
            for page, into in order if i % 2 else reversed(order):
                result = reload_and_record(page)
                into.append(result["restoredAt"])
                if page is guarded_page:
                    flashes += result["defaultFrames"] + result["backwardFrames"]
        print(f"   {shape}: " + describe("plain", plain_ms))
        print(f"   {shape}: " + describe("cookie path (st-session-guard)", guarded_ms))
        ratio = median(guarded_ms) / median(plain_ms)
        verdict(f"reload until restored values are painted, {SHAPE_NAMES[shape]} (cookie path)",
                f"{median(guarded_ms):.0f} ms median", f"plain Streamlit {median(plain_ms):.0f} ms",
                f"{ratio:.2f}x", "<= 1.05x", ratio <= 1.05)
        if flashes:
            print(f"   note: {flashes} frames showed a declared default or an older value on the cookie path")
        if component_reloads:
            component_path(guarded_page, plain_page, guarded, database_url, component_reloads)
    finally:
        plain.stop()
        guarded.stop()


CRASH_CASES = {
    "unsaved cookie": "crash, the guard's unsaved-changes cookie carries the newer values",
    "mirror only": "crash, only the mirror holds the newer values (component-first path)",
}


def component_path(guarded_page: Any, plain_page: Any, guarded: Any, database_url: str, reloads: int) -> None:
    """The browser newer than the server's row, as after a crash inside the write-behind window:
    with the unsaved-changes cookie (what a crash leaves) and with the mirror alone, interleaved
    with the plain page."""
    baseline_ms: list[float] = []
    times: dict[str, list[float]] = {case: [] for case in CRASH_CASES}
    stale_frames: dict[str, list[int]] = {case: [] for case in CRASH_CASES}
    backward: dict[str, int] = dict.fromkeys(CRASH_CASES, 0)
    for _ in range(reloads):
        for case in CRASH_CASES:
            prepare_component_case(guarded_page, guarded, database_url, with_row=True,
                                   unsaved=case == "unsaved cookie")
            result = reload_and_record(guarded_page)
            times[case].append(result["restoredAt"])
            stale_frames[case].append(result["defaultFrames"])
            backward[case] += result["backwardFrames"]
            baseline_ms.append(reload_and_record(plain_page)["restoredAt"])
    print("   " + describe("plain", baseline_ms))
    for case, label in CRASH_CASES.items():
        print("   " + describe(label, times[case]))
        print(f"   {case}: frames showing the server's older values before the newer ones: median "
              f"{median(stale_frames[case]):.0f}; frames showing an older value after a newer one: "
              f"{backward[case]} in {reloads} reloads")
    ratio = median(times["unsaved cookie"]) / median(baseline_ms)
    verdict("reload after a crash inside the write-behind window until every value is painted",
            f"{median(times['unsaved cookie']):.0f} ms median; {backward['unsaved cookie']} frames older after newer",
            f"plain Streamlit {median(baseline_ms):.0f} ms", f"{ratio:.2f}x",
            "<= 1.25x, none older after newer", ratio <= 1.25 and backward["unsaved cookie"] == 0)
    ratio = median(times["mirror only"]) / median(baseline_ms)
    verdict("the same with the mirror alone (component-first path)",
            f"{median(times['mirror only']):.0f} ms median; {backward['mirror only']} frames older after newer",
            f"plain Streamlit {median(baseline_ms):.0f} ms", f"{ratio:.2f}x", "report", None)

    prepare_component_case(guarded_page, guarded, database_url, with_row=False)
    print("   " + probe(guarded_page, "cookie valid, no row on the server (fresh database), mirror only"))
    prepare_component_case(guarded_page, guarded, database_url, with_row=True)
    guarded_page.context.clear_cookies()
    print("   " + probe(guarded_page, "no cookie, the mirror holds newer values"))


SHAPE_NAMES = {
    "bench": "ten-widget form",
    "six": "six-widget form with a password",
    "fifty": "fifty widgets",
    "navigation": "form inside sg.navigation",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=15, help="per app and shape (at least 10)")
    parser.add_argument("--component-reloads", type=int, default=10)
    parser.add_argument("--shapes", nargs="*", default=list(SHAPE_NAMES), choices=list(SHAPE_NAMES))
    args = parser.parse_args()
    header(f"reload to restored: {args.reloads} reloads per app and shape, interleaved")
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp, chromium() as browser:
        for shape in args.shapes:
            cookie_path(browser, tmp, shape, args.reloads, args.component_reloads if shape == "bench" else 0)


if __name__ == "__main__":
    main()
