"""A chat page as its tests drive it: the chat example and the streaming-reply app share it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from st_session_guard.testing import read_mirror


def send(page: Page, text: str) -> None:
    """Type ``text`` into the chat input and send it."""
    page.get_by_test_id("stChatInputTextArea").fill(text)
    page.get_by_test_id("stChatInputTextArea").press("Enter")


def expect_conversation(page: Page, *lines: str) -> None:
    expect(page.get_by_test_id("stChatMessage")).to_have_count(len(lines))
    for message, line in zip(page.get_by_test_id("stChatMessage").all(), lines, strict=True):
        expect(message).to_contain_text(line)


def mirrored_contents(page: Page) -> list[str]:
    """The messages' texts as the browser's mirror holds them (``session.storage["messages"]``)."""
    messages = ((read_mirror(page) or {}).get("storage") or {}).get("messages") or []
    return [m["content"] for m in messages]
