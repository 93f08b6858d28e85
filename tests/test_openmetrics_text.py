"""The OpenMetrics writer: what it renders, a Prometheus parser reads back exactly."""

from __future__ import annotations

import math

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from st_session_guard.openmetrics_text import counter, gauge, histogram, labelled_gauge, render


def test_labels_and_help_with_quotes_backslashes_and_newlines_read_back_as_written() -> None:
    awkward = 'a "quoted"\\path\nand a new line'
    text = render([labelled_gauge("stsg_things", f"Help: {awkward}", [((("name", awkward),), 2.5)])])

    (family,) = text_string_to_metric_families(text)

    assert family.documentation == f"Help: {awkward}"
    assert [(s.labels, s.value) for s in family.samples] == [({"name": awkward}, 2.5)]


def test_a_histogram_is_rendered_cumulative_with_its_count_and_sum() -> None:
    text = render([histogram("stsg_wait_seconds", "Waits.", [0.1, 1.0], [3, 1, 2], 4.75, unit="seconds")])

    (family,) = text_string_to_metric_families(text)

    assert (family.type, family.unit) == ("histogram", "seconds")
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("stsg_wait_seconds_bucket", "0.1")] == 3
    assert samples[("stsg_wait_seconds_bucket", "1")] == 4
    assert samples[("stsg_wait_seconds_bucket", "+Inf")] == 6
    assert samples[("stsg_wait_seconds_count", None)] == 6
    assert samples[("stsg_wait_seconds_sum", None)] == 4.75


def test_counters_carry_total_and_the_text_ends_with_eof() -> None:
    text = render([counter("stsg_events", "Events.", [((), 7)]), gauge("stsg_level", "Level.", math.inf)])

    assert text.endswith("\n# EOF\n")
    assert "stsg_events_total 7\n" in text
    assert "stsg_level +Inf\n" in text
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families == {"stsg_events": "counter", "stsg_level": "gauge"}


def test_a_histogram_needs_one_count_per_bucket_and_one_above_them() -> None:
    with pytest.raises(ValueError):
        histogram("stsg_wait_seconds", "Waits.", [0.1, 1.0], [3, 1], 1.0)
