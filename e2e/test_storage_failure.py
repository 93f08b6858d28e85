"""A browser whose IndexedDB refuses to open or is full: the app runs on the server alone.

The mirror only guards against a server losing its last seconds; without it
every value still goes to the database and comes back on reload through the
signed cookie. The component says so once per page load, as one console
warning, and does not try again (no warning per keystroke, no rerun loop).

The failures are staged in the guard component's frame only, before any of
its code runs: Firefox's private mode answers ``indexedDB.open`` with an
error event, and a full disk makes writes fail with ``QuotaExceededError``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from st_session_guard.testing import (
    GUARD_FRAME,
    StreamlitServer,
    guard_frame,
    read_mirror,
    reload_and_wait,
    wait_for_run,
    wait_until,
)

from .conftest import (
    assert_unprivileged,
    commit_text,
    cookie_session_id,
    shared_app,
    stored_value,
)

APP = Path(__file__).with_name("storage_failure_app.py")
app = shared_app(APP)

# An init script first runs in a child frame's initial about:blank document, whose window the
# component's page then takes over; so every child frame is patched, and the patch asks at call
# time whether it is in the guard's frame.
IN_GUARD_FRAME = (
    f"const inGuardFrame = () => location.href.includes({GUARD_FRAME!r});\n"
    "if (window !== window.top)"
)

OPEN_REFUSED = IN_GUARD_FRAME + """ {
  const open = IDBFactory.prototype.open;
  IDBFactory.prototype.open = function (...args) {
    if (!inGuardFrame()) return open.apply(this, args);
    const request = {result: undefined, error: null, readyState: "pending",
                     onsuccess: null, onerror: null, onupgradeneeded: null, onblocked: null};
    setTimeout(() => {
      request.readyState = "done";
      request.error = new DOMException(
        "A mutation operation was attempted on a database that did not allow mutations.",
        "InvalidStateError");
      if (typeof request.onerror === "function") request.onerror(new Event("error"));
    }, 0);
    return request;
  };
}
"""

# As a full disk fails a write: the put is queued, then its transaction aborts with a
# QuotaExceededError as the transaction's error.
QUOTA_EXCEEDED = IN_GUARD_FRAME + """ {
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (...args) {
    const request = put.apply(this, args);
    if (!inGuardFrame()) return request;
    const transaction = this.transaction;
    const full = new DOMException("The quota has been exceeded.", "QuotaExceededError");
    Object.defineProperty(transaction, "error", {get: () => full});
    transaction.abort();
    return request;
  };
}
"""

RAW_RECORD = """
async (sessionId) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open("st-session-guard");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  if (!db.objectStoreNames.contains("sessions")) { db.close(); return null; }
  const record = await new Promise((resolve, reject) => {
    const get = db.transaction("sessions").objectStore("sessions").get(sessionId);
    get.onsuccess = () => resolve(get.result ?? null);
    get.onerror = () => reject(get.error);
  });
  db.close();
  return record;
}
"""

CONTACT = ["forms", "contact"]


class GuardWarnings:
    """The component's console warnings (prefix ``st-session-guard:``), from any frame of a page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.seen: list[str] = []
        page.on("console", self._note)

    @staticmethod
    def is_guard_warning(message: ConsoleMessage) -> bool:
        return message.type == "warning" and message.text.startswith("st-session-guard:")

    def _note(self, message: ConsoleMessage) -> None:
        if self.is_guard_warning(message):
            self.seen.append(message.text)

    def wait_for_one(self) -> None:
        # Playwright hands over console events only while it is called, so wait through it.
        if not self.seen:
            self.page.wait_for_event("console", predicate=self.is_guard_warning, timeout=15_000)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        pytest.param(
            OPEN_REFUSED,
            "InvalidStateError: A mutation operation was attempted on a database that did not allow"
            " mutations.",
            id="open-refused",
        ),
        pytest.param(
            QUOTA_EXCEEDED, "QuotaExceededError: The quota has been exceeded.", id="quota-full"
        ),
    ],
)
def test_without_usable_indexeddb_values_still_survive_a_reload_and_the_component_warns_once(
    stsg_page: Page, app: StreamlitServer, shared_db_path: Path, failure: str, reason: str
) -> None:
    page = stsg_page
    db_path = shared_db_path
    page.add_init_script(failure)
    warnings = GuardWarnings(page)
    page.goto(app.url)
    wait_for_run(page)
    commit_text(page, "name", "Ada Lovelace")
    warnings.wait_for_one()
    # Further edits and typing find storage off for this page load: no second warning.
    commit_text(page, "email", "ada@example.org")
    page.locator(".st-key-bio textarea").press_sequentially("Typed, never committed")
    session_id = cookie_session_id(page)
    wait_until(lambda: stored_value(db_path, session_id, [*CONTACT, "email"]) == "ada@example.org",
               15, "the database write")
    # The devtools dump flushes pending writes first: a write that failed again would warn by now.
    assert read_mirror(page) is None
    assert warnings.seen == [
        f"st-session-guard: browser storage unavailable, running without the mirror ({reason})"
    ]
    if failure is QUOTA_EXCEEDED:
        assert guard_frame(page).evaluate(RAW_RECORD, session_id) is None

    warnings.seen.clear()
    reload_and_wait(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Contact form")
    expect(page.locator(".st-key-name input")).to_have_value("Ada Lovelace")
    expect(page.locator(".st-key-email input")).to_have_value("ada@example.org")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    warnings.wait_for_one()
    commit_text(page, "name", "Ada King")
    wait_until(lambda: stored_value(db_path, session_id, [*CONTACT, "name"]) == "Ada King", 15,
               "the write after the reload")
    assert read_mirror(page) is None
    assert warnings.seen == [
        f"st-session-guard: browser storage unavailable, running without the mirror ({reason})"
    ]
    # The reload came back to the same session, whose row holds every value.
    assert cookie_session_id(page) == session_id
    assert stored_value(db_path, session_id, [*CONTACT, "email"]) == "ada@example.org"
    assert_unprivileged(db_path, session_id)
