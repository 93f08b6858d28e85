"""The pytest plugin's own promises: page URLs, logs kept out of the app's folder, the guide's example."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from st_session_guard.testing import StreamlitServer

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guides" / "testing.md"
EXAMPLE = ROOT / "e2e" / "plugin_example"

pytest_plugins = ["pytester"]


def guide_block(heading: str) -> str:
    """The python block that follows ``heading`` in the testing guide."""
    found = re.search(re.escape(heading) + r"\s*```python\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert found, f"no python block after {heading!r} in {GUIDE.name}"
    return found.group(1)


def test_the_guides_example_is_the_code_the_suite_runs() -> None:
    assert guide_block("The app, `app.py`:") == (EXAMPLE / "app.py").read_text()
    assert guide_block("Its tests, `test_app.py` beside it:") == (EXAMPLE / "test_app.py").read_text()
    assert "e2e/plugin_example/" in GUIDE.read_text()


def server(tmp_path: Path) -> StreamlitServer:
    return StreamlitServer(tmp_path / "app.py", tmp_path, {}, port=8599)


def test_url_is_the_apps_root_and_url_for_names_a_page_by_url_path_or_script(tmp_path: Path) -> None:
    app = server(tmp_path)

    assert app.url == "http://127.0.0.1:8599"
    assert app.url_for("settings") == "http://127.0.0.1:8599/settings"
    assert app.url_for("/settings/") == "http://127.0.0.1:8599/settings"
    assert app.url_for("settings.py") == "http://127.0.0.1:8599/settings"
    assert app.url_for("pages/2_📈_Plot_demo.py") == "http://127.0.0.1:8599/Plot_demo"
    assert app.url_for("") == app.url


def test_a_server_built_without_a_log_folder_logs_into_a_temporary_one(tmp_path: Path) -> None:
    app = server(tmp_path)

    assert tmp_path not in app.log_path.parents
    assert app.log_path.name == "streamlit-8599.log"


def test_the_fixture_keeps_logs_out_of_the_apps_folder_and_a_failure_report_names_them(
    pytester: pytest.Pytester,
) -> None:
    app_dir = pytester.mkdir("my_app")
    (app_dir / "app.py").write_text("import streamlit as st\nst.write('hi')\n")
    pytester.makepyfile(test_app=textwrap.dedent(f"""
        import urllib.request
        from pathlib import Path

        APP_DIR = Path({str(app_dir)!r})

        def test_fails_after_a_run(streamlit_server):
            app = streamlit_server(APP_DIR / "app.py", cwd=APP_DIR)
            assert app.log_path.parent != APP_DIR
            urllib.request.urlopen(app.url, timeout=10).read()
            assert False, "on purpose"
    """))

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")  # the plugin loads as installed

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*streamlit server log */streamlit-*.log*", "*You can now view your Streamlit app*"])
    assert sorted(path.name for path in app_dir.iterdir()) == ["app.py"]
