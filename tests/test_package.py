"""The package's names load on first use, so the parts that need no Streamlit do not import it."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_session_domain_does_not_import_streamlit() -> None:
    code = "import sys, st_session_guard.session, st_session_guard.history; print('streamlit' in sys.modules)"
    assert run_python(code) == "False"


def test_every_public_name_is_there_on_first_use() -> None:
    code = (
        "import sys, st_session_guard as sg\n"
        "before = 'streamlit' in sys.modules\n"
        "names = [getattr(sg, name) for name in sg.__all__]\n"
        "print(before, callable(sg.text_input), sg.navigation.__module__, sg.UserSession.__name__,"
        " sorted(dir(sg)) == sorted(set(dir(sg)) | set(sg.__all__)))"
    )
    assert run_python(code) == "False True st_session_guard.pages UserSession True"


def test_a_submodule_imported_first_hides_no_public_name() -> None:
    code = (
        "import importlib, pkgutil, st_session_guard as sg\n"
        "for module in pkgutil.iter_modules(sg.__path__):\n"
        "    if module.name != 'testing':\n"
        "        importlib.import_module(f'st_session_guard.{module.name}')\n"
        "print(sorted(n for n in sg.__all__ if type(getattr(sg, n)).__name__ == 'module'))"
    )
    assert run_python(code) == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    code = (
        "import st_session_guard as sg\n"
        "try:\n    sg.no_such_name\nexcept AttributeError as error:\n    print('no_such_name' in str(error))"
    )
    assert run_python(code) == "True"
