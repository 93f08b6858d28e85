"""Bytes sent to the browser in the rerun after 1 field of a 1 MB session changes (target: under 2 KB).

The guarded page (``apps/guarded_form.py``) is opened on a session of about
1 MB (many forms of text fields, with the undo history that editing them
leaves), restored from its cookie. Then one text field is edited (typed and
committed with Enter) and every websocket frame the server sends until the
run ends is counted, as Chromium receives it (Playwright's ``framereceived``).
The baseline is the same edit on ``apps/plain_form.py``, the same ten
widgets in plain Streamlit, edited alternately; the difference is what
st-session-guard adds. The first page load, which sends the whole session to
the browser mirror once, is printed for reference.

    python bench/bytes_per_rerun.py [--edits 6] [--session-bytes 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from browser import chromium, session_cookie, start_app
from common import header, median, session_of_size, state_bytes, verdict
from form_spec import FORM, restored

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.testing import wait_for_run


class FrameCounter:
    """Bytes and frames the page's websockets received since the last ``take()``."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        self.frames = 0
        page.on("websocket", self._attach)

    def _attach(self, socket: Any) -> None:
        socket.on("framereceived", self._count)

    def _count(self, payload: bytes | str) -> None:
        self.bytes += len(payload.encode() if isinstance(payload, str) else payload)
        self.frames += 1

    def take(self) -> tuple[int, int]:
        taken = (self.bytes, self.frames)
        self.bytes = self.frames = 0
        return taken


def big_session(database_url: str, size: int, prior_edits: int) -> str:
    """Store a session of about ``size`` bytes that also holds the benchmark form; its id.

    ``prior_edits`` edits of the benchmark form come first, so its undo
    history is as long as a user who kept typing leaves it (50 steps at most).
    """
    session = session_of_size(size)
    for i in range(prior_edits):
        session.update_form_data(FORM, "email", f"earlier{i}@example.org")
    for key, value in restored().items():
        session.update_form_data(FORM, key, value)
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=86400, database_url=database_url)
    engine.persist_session(session, immediate=True)
    engine.close()
    engine.db.dispose()
    print(f"   session state: {state_bytes(session):,} bytes of JSON")
    return session.session_id


def edit(page: Any, counter: FrameCounter, text: str) -> tuple[int, int]:
    """Commit ``text`` in the name field; (bytes, frames) the server sent for that rerun."""
    field = page.locator(".st-key-name input")
    field.fill(text)
    page.wait_for_timeout(300)  # let anything the typing caused settle before counting
    wait_for_run(page)
    counter.take()
    field.press("Enter")
    for _ in range(250):  # the rerun's first frame, at most 5 s away
        if counter.frames:
            break
        page.wait_for_timeout(20)
    wait_for_run(page)
    page.wait_for_timeout(300)  # frames that trail the end of the run
    return counter.take()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=6, help="per page")
    parser.add_argument("--session-bytes", type=int, default=1_000_000)
    parser.add_argument("--prior-edits", type=int, default=0,
                        help="edits of the form before the measured ones (its undo history)")
    args = parser.parse_args()
    header(f"bytes per rerun: {args.edits} one-field edits per page of a ~{args.session_bytes:,} B session,"
           f" {args.prior_edits} earlier edits of the form")
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
        plain_dir, guarded_dir = Path(tmp, "plain"), Path(tmp, "guarded")
        plain_dir.mkdir()
        guarded_dir.mkdir()
        database_url = f"sqlite:///{guarded_dir / 'sessions.db'}"
        plain, guarded = start_app("plain_form", plain_dir), start_app("guarded_form", guarded_dir)
        try:
            session_id = big_session(database_url, args.session_bytes, args.prior_edits)
            with chromium() as browser:
                pages: dict[str, Any] = {}
                counters: dict[str, FrameCounter] = {}
                for name, server in (("plain", plain), ("guarded", guarded)):
                    context = browser.new_context(viewport={"width": 1280, "height": 1000})
                    context.add_cookies([session_cookie(server, session_id)])
                    page = pages[name] = context.new_page()
                    page.set_default_timeout(60_000)
                    counters[name] = FrameCounter(page)
                    page.goto(server.url)
                    page.wait_for_selector(".st-key-name input")
                    wait_for_run(page)
                    page.wait_for_timeout(500)
                    first, frames = counters[name].take()
                    print(f"   {name}: first page load received {first:,} bytes in {frames} frames")
                sent: dict[str, list[int]] = {"plain": [], "guarded": []}
                for i in range(args.edits):
                    for name in ("plain", "guarded") if i % 2 else ("guarded", "plain"):
                        received, frames = edit(pages[name], counters[name], f"Ada {i}")
                        sent[name].append(received)
        finally:
            plain.stop()
            guarded.stop()
    for name, values in sent.items():
        print(f"   {name}: bytes per edit {values}")
    added = median(sent["guarded"]) - median(sent["plain"])
    verdict(
        f"bytes sent to the browser when 1 field of a {args.session_bytes / 1e6:g} MB session changes"
        f" ({args.prior_edits} earlier edits)",
        f"{median(sent['guarded']):,.0f} B per rerun ({added:+,.0f} B over plain)",
        f"plain Streamlit {median(sent['plain']):,.0f} B per rerun",
        f"{median(sent['guarded']) / median(sent['plain']):.2f}x",
        "< 2 KB (added by st-session-guard)",
        added < 2048,
    )


if __name__ == "__main__":
    main()
