"""Kept change texts: only what moved on is encoded again, and the text is always whole."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from st_session_guard.change_texts import ChangeTexts, Path

paths = st.sampled_from([("page",), ("navigation",), ("forms", "f", "a"), ("forms", "f", "b"),
                         ("snapshots", "f", "line"), ("snapshots", "f", "0")])


def encoder(calls: list[Path]) -> Callable[[Path, int], bytes]:
    def encode(path: Path, revision: int) -> bytes:
        calls.append(path)
        return json.dumps({"p": list(path), "r": revision}).encode()
    return encode


@given(st.lists(st.dictionaries(paths, st.integers(0, 2**62)), min_size=1, max_size=6))
def test_joined_text_always_equals_a_fresh_encoding(states: list[dict[Path, int]]) -> None:
    texts = ChangeTexts()
    for revisions in states:
        fresh = b",".join(encoder([])(p, r) for p, r in revisions.items())
        assert texts.join(revisions, encoder([])) == fresh


def test_only_paths_whose_revision_moved_on_are_encoded_again() -> None:
    texts = ChangeTexts()
    calls: list[Path] = []
    revisions = {("page",): 1, ("forms", "f", "a"): 2, ("forms", "f", "b"): 2}
    texts.join(revisions, encoder(calls))
    assert len(calls) == 3
    calls.clear()
    revisions[("forms", "f", "b")] = 3
    revisions[("snapshots", "f", "line")] = 3
    text = texts.join(revisions, encoder(calls))
    assert calls == [("forms", "f", "b"), ("snapshots", "f", "line")]
    assert json.loads(b"[" + text + b"]")[1] == {"p": ["forms", "f", "a"], "r": 2}


def test_a_path_in_another_place_with_the_same_revision_is_not_mistaken_for_another() -> None:
    texts = ChangeTexts()
    texts.join({("page",): 5, ("navigation",): 5}, encoder([]))
    calls: list[Path] = []
    text = texts.join({("navigation",): 5, ("page",): 5}, encoder(calls))
    assert calls == [("navigation",), ("page",)]
    assert [c["p"] for c in json.loads(b"[" + text + b"]")] == [["navigation"], ["page"]]
