"""A stored session as a person reads it: who, where, each form with its values, history, storage.

Built from the state column as stored (``queries.stored_state``), not from a
rebuilt ``UserSession``, so it shows what is on disk, roots a newer release
added included. Values are shown as JSON; the caller escapes what a terminal
would act on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import timezone
from typing import Any

from .timestamps import parse_time

_SHOWN_APART = frozenset({"page", "navigation", "forms", "form_meta", "snapshots"})
"""Roots with a section of their own; every other root (``storage``, say) is listed as it is."""


def render(state: Mapping[str, Any]) -> str:
    by_root: dict[str, list[tuple[tuple[str, ...], Any]]] = defaultdict(list)
    for change in state.get("changes", []):
        if not change.get("d"):  # a deleted path holds no value
            path = tuple(str(part) for part in change["p"])
            by_root[path[0]].append((path[1:], change.get("v")))
    lines = [*_header(state), "", *_where(by_root)]
    forms = sorted({path[0] for root in ("forms", "form_meta", "snapshots")
                    for path, _ in by_root.get(root, []) if path})
    for form_id in forms:
        lines += ["", *_form(form_id, by_root, state.get("validation", {}).get(form_id, {}))]
    for root in sorted(set(by_root) - _SHOWN_APART):
        lines += ["", root, *_rows(
            sorted((".".join(path) or "(whole)", _json(value)) for path, value in by_root[root]))]
    return "\n".join(lines)


def _header(state: Mapping[str, Any]) -> list[str]:
    metrics = state.get("metrics", {})
    return _rows([
        ("session", str(state.get("session_id"))),
        ("user", str(state.get("user_id") or "-")),
        ("created", _when(state.get("created_at"))),
        ("last activity", _when(metrics.get("last_activity"))),
        ("page views", str(metrics.get("page_views", 0))),
        ("roles", ", ".join(state.get("roles", [])) or "-"),
        ("permissions", ", ".join(state.get("permissions", [])) or "-"),
        ("revision", str(state.get("revision"))),
    ], indent="")


def _where(by_root: Mapping[str, list[tuple[tuple[str, ...], Any]]]) -> list[str]:
    page = next((value for path, value in by_root.get("page", []) if not path), None)
    trail = next((value for path, value in by_root.get("navigation", []) if not path), None) or []
    steps = [str(entry.get("page")) + (f" {_json(entry['params'])}" if entry.get("params") else "")
             for entry in trail if isinstance(entry, Mapping)]
    return _rows([("page", str(page or "-")), ("history", " -> ".join(steps) or "-")], indent="")


def _form(form_id: str, by_root: Mapping[str, list[tuple[tuple[str, ...], Any]]],
          validation: Mapping[str, Any]) -> list[str]:
    meta = next((value for path, value in by_root.get("form_meta", []) if path == (form_id,)), None)
    saved = f" (last saved {_when(meta.get('last_saved'))})" if isinstance(meta, Mapping) else ""
    fields = sorted((path[1], _json(value)) for path, value in by_root.get("forms", [])
                    if len(path) == 2 and path[0] == form_id)
    history = {path[1]: value for path, value in by_root.get("snapshots", [])
               if len(path) == 2 and path[0] == form_id}
    lines = [f"form {form_id}{saved}", *(_rows(fields) if fields else ["  (no values)"])]
    for kind in ("errors", "warnings"):
        for field, messages in sorted(validation.get(kind, {}).items()):
            lines.append(f"  {kind[:-1]} on {field}: {'; '.join(map(str, messages))}")
    named = [entry for entry in history.get("saved") or [] if isinstance(entry, Mapping)]
    for entry in named:
        lines.append(f"  snapshot {_json(entry.get('description', ''))} ({_when(entry.get('created_at'))})")
    steps = sum(1 for key in history if key.isdigit())
    if steps:
        lines.append(f"  undo history: {steps} step{'s' if steps > 1 else ''}")
    return lines


def _rows(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{indent}{name.ljust(width)}  {value}" for name, value in rows]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _when(text: object) -> str:
    try:
        moment = parse_time(text)
    except ValueError:
        moment = None
    return "-" if moment is None else f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
