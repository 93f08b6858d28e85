"""``sg.data_editor``: edits kept against the app's table, applied again to it, and dropped
with a warning when they no longer fit it."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest
from guarded_pages import page_load
from streamlit.testing.v1 import AppTest

from st_session_guard import table_edits
from st_session_guard.persistence import SessionPersistenceEngine


def people() -> pd.DataFrame:
    return pd.DataFrame({"name": ["Ada", "Grace", "Edsger"], "age": [36, 85, 72]})


def test_the_edits_that_made_a_table_make_it_again_from_the_apps_data() -> None:
    data = people()
    result = data.copy()
    result.at[1, "age"] = 86
    result = result.drop(index=[2])
    result.loc[3] = ["Barbara", 40]

    edits = table_edits.diff(data, result)
    again, dropped = table_edits.apply(edits, data)

    assert edits == {"edited": [[1, {"age": 86}]], "added": [[3, {"name": "Barbara", "age": 40}]], "deleted": [2]}
    assert dropped == []
    assert again.to_dict("index") == result.to_dict("index")


def test_edits_of_a_row_or_column_that_is_gone_or_of_another_type_are_left_out() -> None:
    edits: Any = {
        "edited": [[9, {"age": 1}], [0, {"email": "ada@example.org"}], [1, {"age": "old"}], [2, {"age": 73}]],
        "added": [],
        "deleted": [8],
    }

    table, dropped = table_edits.apply(edits, people())

    assert table["age"].tolist() == [36, 85, 73]
    assert dropped == [
        "row 8 to delete is gone",
        "row 9 is gone",
        "column 'email' is gone",
        "'old' no longer fits column 'age' (int64)",
    ]


EDITOR = """
st.session_state["table"] = sg.data_editor(
    pd.DataFrame({columns!r}), key="people", form_id="f", num_rows="dynamic"
).to_dict("list")
"""


def editor_load(session_id: str | None, columns: dict[str, list[Any]], seed: dict[str, Any] | None = None) -> AppTest:
    return page_load(EDITOR.format(columns=columns), session_id, seed)


COLUMNS = {"name": ["Ada", "Grace"], "age": [36, 85]}


def test_stored_edits_are_applied_to_the_apps_data_on_the_next_page_load(engine: SessionPersistenceEngine) -> None:
    edits = {"edited": [[0, {"age": 37}]], "added": [[2, {"name": "Barbara", "age": 40}]], "deleted": [1]}
    first = editor_load(None, COLUMNS, seed={"people": edits})
    engine.flush_all()

    reloaded = editor_load(first.session_state["sid"], COLUMNS)

    assert reloaded.session_state["table"] == {"name": ["Ada", "Barbara"], "age": [37, 40]}


def test_stored_edits_that_no_longer_fit_the_apps_data_are_dropped_with_a_warning(
    engine: SessionPersistenceEngine, caplog: pytest.LogCaptureFixture
) -> None:
    edits = {"edited": [[0, {"age": 37}], [1, {"email": "grace@example.org"}]], "added": [], "deleted": []}
    first = editor_load(None, COLUMNS, seed={"people": edits})
    engine.flush_all()

    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        reloaded = editor_load(first.session_state["sid"], {"name": ["Ada", "Grace"], "age": ["36", "85"]})

    assert reloaded.session_state["table"] == {"name": ["Ada", "Grace"], "age": ["36", "85"]}
    assert "not restoring an edit of data editor 'people': 37 no longer fits column 'age'" in caplog.text
    assert "column 'email' is gone" in caplog.text
