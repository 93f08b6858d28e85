"""The OpenMetrics text format (what a Prometheus scrape reads), written from plain figures."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

CONTENT_TYPE: Final = "application/openmetrics-text; version=1.0.0; charset=utf-8"
"""The ``Content-Type`` a scrape of this text must be answered with."""

Labels = tuple[tuple[str, str], ...]
MetricType = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Sample:
    suffix: str
    """Appended to the family's name: ``_total``, ``_bucket``, ``""`` for a gauge."""
    labels: Labels
    value: float


@dataclass(frozen=True)
class Family:
    """One metric: its name (without ``_total``), type, help, unit and samples."""

    name: str
    type: MetricType
    help: str
    samples: tuple[Sample, ...]
    unit: str = ""
    """When given, ``name`` ends with ``_<unit>``, as the format requires."""


def gauge(name: str, help: str, value: float, labels: Labels = (), unit: str = "") -> Family:
    return Family(name, "gauge", help, (Sample("", labels, value),), unit)


def labelled_gauge(name: str, help: str, values: Iterable[tuple[Labels, float]], unit: str = "") -> Family:
    return Family(name, "gauge", help, tuple(Sample("", labels, v) for labels, v in values), unit)


def counter(name: str, help: str, values: Iterable[tuple[Labels, float]]) -> Family:
    return Family(name, "counter", help, tuple(Sample("_total", labels, v) for labels, v in values))


def histogram(
    name: str, help: str, bounds: Sequence[float], counts: Sequence[int], total: float, unit: str = ""
) -> Family:
    """``counts[i]`` observations fell in bucket ``i`` (at most ``bounds[i]``); the last is above them all."""
    samples: list[Sample] = []
    running = 0
    for bound, count in zip([*bounds, math.inf], counts, strict=True):
        running += count
        samples.append(Sample("_bucket", (("le", _number(bound)),), running))
    samples += [Sample("_count", (), running), Sample("_sum", (), total)]
    return Family(name, "histogram", help, tuple(samples), unit)


def render(families: Iterable[Family]) -> str:
    """The exposition: each family's ``# TYPE``, ``# UNIT``, ``# HELP`` and samples, then ``# EOF``."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# TYPE {family.name} {family.type}")
        if family.unit:
            lines.append(f"# UNIT {family.name} {family.unit}")
        lines.append(f"# HELP {family.name} {_escape(family.help)}")
        for sample in family.samples:
            labels = ",".join(f'{name}="{_escape(value)}"' for name, value in sample.labels)
            lines.append(f"{family.name}{sample.suffix}{'{' + labels + '}' if labels else ''} "
                         f"{_number(sample.value)}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)
