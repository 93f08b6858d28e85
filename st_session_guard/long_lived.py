"""Keeping what the process holds for good out of the garbage collector's every pass.

Streamlit runs a full collection after each script run, holding the GIL,
and the run's output waits for it; see ``bench/README.md`` for what it cost.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_long_lived_objects() -> None:
    """``gc.freeze()`` once per process, at the first page load: what exists by then
    (modules, the database engine, compiled statements) lives as long as the process."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
