"""Fifty widgets, five of each of ten kinds, drawn with ``st`` or ``sg``: the rerun-overhead page."""

from __future__ import annotations

import time
from typing import Any, Final

KINDS: Final = 10
EACH: Final = 5
OPTIONS: Final = ["alpha", "beta", "gamma", "delta"]

clock: dict[str, list[float]] = {"plain": [], "guarded": []}
"""Thread CPU seconds of each script body, per app; read by the benchmark in the same process."""


def draw(module: Any, **extra: Any) -> None:
    for i in range(EACH):
        module.text_input(f"Text {i}", "", key=f"text{i}", **extra)
        module.text_area(f"Area {i}", "", key=f"area{i}", **extra)
        module.number_input(f"Int {i}", 0, 1000, 10, key=f"int{i}", **extra)
        module.number_input(f"Float {i}", 0.0, 10.0, 1.0, key=f"float{i}", **extra)
        module.selectbox(f"Select {i}", OPTIONS, 0, key=f"select{i}", **extra)
        module.multiselect(f"Multi {i}", OPTIONS, [], key=f"multi{i}", **extra)
        module.radio(f"Radio {i}", OPTIONS, 0, key=f"radio{i}", **extra)
        module.checkbox(f"Check {i}", False, key=f"check{i}", **extra)
        module.toggle(f"Toggle {i}", False, key=f"toggle{i}", **extra)
        module.slider(f"Slider {i}", 0, 100, 50, key=f"slider{i}", **extra)


def timed(app: str, body: Any) -> None:
    start = time.thread_time()
    body()
    clock[app].append(time.thread_time() - start)
