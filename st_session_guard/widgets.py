"""Drop-in widgets: ``sg.text_input(...)`` is ``st.text_input(...)`` plus ``form_id``, persisted.

Each wrapper keeps one form field in step with one widget:

- when the widget is created (first run of a page load, or the page is shown
  again), a stored value that still fits the widget is passed as the
  widget's own default (``value=``, ``index=``, ``default=``), so the very
  first frame paints it — ``st.session_state`` would paint the default first.
  A widget bound to the URL (``bind="query-params"``) is the exception: a URL
  carrying its parameter wins (a shared link), and otherwise the stored value
  goes through ``st.session_state``, since a seeded default leaves the URL;
- when the stored value changed elsewhere (another tab, the browser mirror
  after a crash, undo), it is written to ``st.session_state`` before the widget
  ("pushed"), and pushed again on the runs that follow within
  ``PUSH_RESEND_SECONDS``: Streamlit drops a run's unsent output when the next
  run starts, and a browser that had not drawn the push yet keeps its old
  value and may even send it back, which is then no edit of the user's;
- a user's edit is committed by an ``on_change`` callback, which runs before
  the script, so the guard ships it to the mirror in the same run; a value
  set from code (or edited inside ``st.form``, where callbacks are not
  allowed) is committed when the widget is drawn, as it differs from what
  the widget showed last. A default the widget merely shows is never stored:
  it is part of the form's ``data`` for this run only. Beside each edit the
  default the app declared is kept, and an edit of a default the app has
  changed since is not restored.

Password inputs are never persisted anywhere.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import streamlit as st
from streamlit.elements.lib.form_utils import current_form_id

from . import process_metrics, values
from .connection import Connection, get_connection, run_connection
from .history import ABSENT
from .manager import current_session
from .session import JSON, FormState, Path, SessionFull, UserSession
from .unsaved_cookie import take_back
from .widget_kinds import KINDS, Kind

logger = logging.getLogger("st_session_guard")

_MISSING: Final = object()

PUSH_RESEND_SECONDS: Final = 2.0
"""How long after a push every run pushes again, and the value the widget showed before
the push, sent back, is taken for no edit. A run's output waits in Streamlit's queue for
the event loop, which on a busy server can take a second; the run that follows it drops
what is still queued, and a rerun the browser asked for meanwhile carries its old value."""

_SEED_DEFAULTS: Final[dict[str, Any]] = {}
"""Widget name -> its seeding argument's default in Streamlit's signature."""


@dataclass(eq=False)
class WidgetSync:
    """What the wrapped widgets of one tab showed and were sent; kept on its ``Connection``, so a
    new connection starts them afresh, and never in ``st.session_state`` (see ``_sync_of``)."""

    generation: int = 0
    """The connection's generation these maps describe (see ``Connection.generation``)."""
    widgets: dict[str, Path] = field(default_factory=dict)
    """Widget key -> the form field it persists to."""
    seen: dict[str, int] = field(default_factory=dict)
    """Widget key -> the path revision the widget last showed."""
    shown: dict[str, JSON] = field(default_factory=dict)
    """Widget key -> the value (as stored JSON) the widget returned on its last run."""
    pushed: dict[str, tuple[float, JSON]] = field(default_factory=dict)
    """Widget key -> (``time.monotonic()`` when a value changed elsewhere was written into the
    widget, the value it showed before) while the browser may not have drawn that value yet."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Widget key -> the value it showed when it was drawn with nothing stored."""
    moved: set[str] = field(default_factory=set)
    """Keys of widgets drawn for a session the tab has left: each shows the new session's value
    (its default where it holds none) when next drawn, and never hands the old one to it."""
    forms: dict[str, tuple[UserSession, FormState]] = field(default_factory=dict)
    """Form id -> (the session, its form), so a run finds a form without taking the session's lock."""
    declared: dict[str, JSON] = field(default_factory=dict)
    """Widget key -> the default its app declared when it was created (stored JSON), stored
    beside each of its edits."""


def _sync_of(connection: Connection) -> WidgetSync:
    """The tab's ``WidgetSync``. Held by the connection, not by a key of ``st.session_state`` of
    its own: every text input walks each key there on every run (Streamlit's ``filtered_state``)."""
    sync = connection.widget_sync
    if not isinstance(sync, WidgetSync):
        sync = connection.widget_sync = WidgetSync(connection.generation)
    elif sync.generation != connection.generation:
        sync = connection.widget_sync = _moved(sync, connection.generation)
    return sync


def _moved(sync: WidgetSync, generation: int) -> WidgetSync:
    """The maps of a tab that moved to another session: what its widgets show stays known."""
    return WidgetSync(
        generation, shown=sync.shown, defaults=sync.defaults,
        moved=set(sync.widgets) | sync.moved, declared=sync.declared,
    )


def _declared_default(name: str, kind: Kind, kwargs: Mapping[str, Any]) -> Any:
    """The default the app declares for a widget, as its code writes it (``index=0`` stays the
    same default when an option is added in front), as stored JSON; ``_MISSING`` where it
    cannot be stored."""
    return _encoded_or_missing(kwargs.get(kind.seed_param, _SEED_DEFAULTS[name]))


def _stored_fitting(
    session: UserSession, path: Path, kind: Kind, kwargs: Mapping[str, Any], key: str, declared: Any
) -> tuple[Any, Any] | None:
    """(value, seed) for the stored value if it fits the widget now; None if there is none,
    or, with a warning, if it does not fit or was an edit of a default the app has changed since."""
    try:
        form = session.get_form_state(path[1])
        raw = form.stored_json(path[2])
        if raw is ABSENT:
            return None
        value = values.decode(raw)
        seed = kind.fit(value, kwargs)
        recorded = form.edited_over.get(path[2], ABSENT)
        if recorded is not ABSENT and declared is not _MISSING and recorded != declared:
            raise values.Unfit(f"the app's default changed from {recorded!r} since it was edited")
    except values.Unfit as reason:
        logger.warning("st-session-guard: not restoring widget %r: %s", key, reason)
        process_metrics.count_unfit_value()
        return None
    return (value if kind.seeds_index else seed), seed


def _commit(sync: WidgetSync, session: UserSession, key: str, value: Any) -> None:
    path = sync.widgets[key]
    try:
        session.update_form_data(path[1], path[2], value)
    except (TypeError, SessionFull) as reason:  # the value stored before stays
        logger.warning("st-session-guard: not persisting widget %r: %s", key, reason)
    else:
        declared = sync.declared.get(key, _MISSING)
        if declared is not _MISSING:
            session.record_widget_default(path[1], path[2], declared)
    sync.seen[key] = session.path_revision(path)
    sync.shown[key] = _encoded_or_missing(value)
    sync.pushed.pop(key, None)


def _pending_push(sync: WidgetSync, key: str) -> tuple[float, Any] | None:
    """(when, the value the browser showed before) for a value written into the widget lately."""
    pushed = sync.pushed.get(key)
    if pushed is not None and time.monotonic() - pushed[0] >= PUSH_RESEND_SECONDS:
        del sync.pushed[key]
        return None
    return pushed


def _push(
    sync: WidgetSync, session: UserSession, name: str, kind: Kind, kwargs: Mapping[str, Any], key: str,
    pushed: tuple[float, Any],
) -> None:
    """Write the stored value, changed elsewhere, into the widget's state before it is drawn;
    the widget's default where the field is gone (an undo of its first edit, say)."""
    path = sync.widgets[key]
    fitting = _stored_fitting(session, path, kind, kwargs, key, sync.declared.get(key, _MISSING))
    if fitting is not None:
        st.session_state[key] = fitting[0]
    elif path[2] not in session.get_form_state(path[1]).stored:
        default = _default(sync, name, kind, kwargs, key)
        if default is _MISSING:
            return
        st.session_state[key] = default
    else:
        return
    sync.pushed[key] = pushed


def _default(sync: WidgetSync, name: str, kind: Kind, kwargs: Mapping[str, Any], key: str) -> Any:
    declared = kwargs.get(kind.seed_param, _SEED_DEFAULTS[name])
    if kind.default is not None:
        return kind.default(declared, kwargs)
    if declared is not _SEED_DEFAULTS[name]:  # the app gave the value itself, e.g. value=30
        try:
            return kind.fit(declared, kwargs)
        except values.Unfit:
            pass
    return sync.defaults.get(key, _MISSING)


def _commit_then_call(key: str, user_callback: Any, user_args: Any, user_kwargs: Any) -> None:
    connection = get_connection()
    sync = None if connection is None else _sync_of(connection)
    value = _MISSING if sync is None or key not in sync.widgets else st.session_state.get(key, _MISSING)
    if connection is not None and sync is not None and value is not _MISSING:
        pushed = _pending_push(sync, key)
        if pushed is not None and _encoded_or_missing(value) == pushed[1]:
            return  # the browser sent back what it showed before a push it had not drawn: no edit
        _commit(sync, current_session(connection), key, value)
    if callable(user_callback):
        user_callback(*(user_args or ()), **(user_kwargs or {}))


_unkeyed_labels: set[str] = set()
"""Labels already warned about as field names, so each is warned about once per process."""


def _field_and_key(name: str, form_id: str, kwargs: Mapping[str, Any]) -> tuple[str, Any]:
    """(field name, widget key): the widget's ``key``, else its label, with a warning once."""
    key = kwargs.get("key")
    if key:
        return str(key), key
    label = kwargs.get("label")
    if label is None:
        raise TypeError(f"sg.{name} has no label to name its field by: give it key=")
    label = str(label)
    if label not in _unkeyed_labels:
        _unkeyed_labels.add(label)
        logger.warning(
            "st-session-guard: widget %r has no key=, so its value is stored under its label: "
            "a renamed label loses the stored value", label,
        )
    return label, f"stsg:{form_id}:{label}"


def _seed(
    session: UserSession, path: Path, kind: Kind, kwargs: dict[str, Any], key: str, declared: Any
) -> tuple[Any, bool]:
    """Give a widget about to be created its stored value, if that still fits; returns (the
    value as stored JSON or ``_MISSING``, whether the URL's value won over it).

    Through the widget's own default, so the first frame paints it; a widget bound to the
    URL takes it through ``st.session_state`` instead (its default would leave the URL), and
    a URL that carries the widget's parameter wins, as a shared link must."""
    bound = kwargs.get("bind") == "query-params"
    if bound and key in st.query_params:
        stored = session.get_form_state(path[1]).stored.get(path[2], _MISSING)
        return (_MISSING if stored is _MISSING else _encoded_or_missing(stored)), True
    fitting = _stored_fitting(session, path, kind, kwargs, key, declared)
    if fitting is None:
        return _MISSING, False
    if bound:
        st.session_state[key] = fitting[0]
    else:
        kwargs[kind.seed_param] = fitting[1]
        if kwargs.get("accept_new_options"):
            kwargs["options"] = values.options_with_new(fitting[0], kwargs)
    return _encoded_or_missing(fitting[0]), False


def _render(name: str, kind: Kind, form_id: str, kwargs: dict[str, Any]) -> Any:
    widget = getattr(st, name)
    connection = run_connection()
    if connection is None:
        raise RuntimeError("call st_session_guard.bootstrap_session() before any sg widget")
    field, key = _field_and_key(name, form_id, kwargs)
    kwargs["key"] = key
    path: Path = ("forms", form_id, field)
    if kwargs.get("type") == "password" or key in connection.excluded_keys:
        connection.excluded.add(path)
        if connection.from_cookie:
            take_back(connection, current_session(connection), path)
        return widget(**kwargs)

    session = current_session(connection)
    sync = _sync_of(connection)
    sync.widgets[key] = path
    if kind.drafts:
        session.register_draft_widget(key, form_id, field)
    revision = session.path_revision(path)
    current = st.session_state.get(key, _MISSING)  # one lookup: each costs microseconds, x every widget
    seeded: Any = _MISSING
    moved = key in sync.moved
    sync.moved.discard(key)
    url_won = False
    if current is _MISSING:
        declared = sync.declared[key] = _declared_default(name, kind, kwargs)
        seeded, url_won = _seed(session, path, kind, kwargs, key, declared)
        sync.seen[key] = revision
    elif moved or revision > sync.seen.get(key, 0):
        _push(sync, session, name, kind, kwargs, key, (time.monotonic(), sync.shown.get(key)))
        sync.seen[key] = revision
    else:
        shown_before = sync.shown.get(key, _MISSING)
        encoded = _encoded_or_missing(current)
        pushed = _pending_push(sync, key)
        if pushed is not None and (encoded == shown_before or encoded == pushed[1]):
            # The browser may not have drawn the push yet, or sent back what it showed before it.
            _push(sync, session, name, kind, kwargs, key, pushed)
        elif encoded != shown_before:
            _commit(sync, session, key, current)

    user_callback = kwargs.get("on_change")
    if current_form_id(st._main) == "" and (user_callback is None or callable(user_callback)):
        # One argument, not on_change, args and kwargs: Streamlit's telemetry
        # looks at every argument of every widget call, on every run.
        kwargs["on_change"] = functools.partial(
            _commit_then_call, key, user_callback, kwargs.pop("args", None), kwargs.pop("kwargs", None)
        )
    value = returned = widget(**kwargs)
    if kind.container:
        value = st.session_state.get(key, _MISSING)
        if value is _MISSING:  # on_change="ignore": Streamlit keeps no state to persist
            return returned
    shown = _encoded_or_missing(value)
    if current is _MISSING and seeded is _MISSING and not url_won:
        sync.defaults[key] = value
    if (seeded is not _MISSING or url_won) and shown is not _MISSING and shown != seeded:
        # The browser already held another value (a tab that reconnected to a restarted
        # server), or the URL did: Streamlit returns it with no on_change, so it is
        # committed here or never.
        _commit(sync, session, key, value)
    sync.shown[key] = shown
    if shown is not _MISSING:
        _form_of(sync, session, form_id).show_default(field, shown)
    return returned


def _form_of(sync: WidgetSync, session: UserSession, form_id: str) -> FormState:
    cached = sync.forms.get(form_id)
    if cached is None or cached[0] is not session:  # a session reloaded from the database is another object
        cached = sync.forms[form_id] = (session, session.get_form_state(form_id))
    return cached[1]


def _encoded_or_missing(value: Any) -> Any:
    try:
        return values.encode(value)
    except TypeError:
        return _MISSING


def _wrapper(name: str) -> Callable[..., Any]:
    kind = KINDS[name]
    widget = getattr(st, name)
    signature = inspect.signature(widget)
    _SEED_DEFAULTS[name] = signature.parameters[kind.seed_param].default
    positional = list(signature.parameters)

    @functools.wraps(widget)
    def wrapped(*args: Any, form_id: str = "default", **kwargs: Any) -> Any:
        kwargs.update(zip(positional, args))
        return _render(name, kind, form_id, kwargs)

    form_param = inspect.Parameter("form_id", inspect.Parameter.KEYWORD_ONLY, default="default")
    wrapped.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), form_param]
    )
    wrapped.__doc__ = (
        f"``st.{name}`` that persists its value in form ``form_id`` and restores it on reload.\n\n"
        f"Takes exactly the arguments of ``st.{name}``, plus ``form_id`` (default "
        f"``\"default\"``). The field is named by ``key`` (else by ``label``).\n\n"
        + (widget.__doc__ or "")
    )
    return wrapped


text_input = _wrapper("text_input")
text_area = _wrapper("text_area")
number_input = _wrapper("number_input")
selectbox = _wrapper("selectbox")
multiselect = _wrapper("multiselect")
radio = _wrapper("radio")
checkbox = _wrapper("checkbox")
toggle = _wrapper("toggle")
slider = _wrapper("slider")
select_slider = _wrapper("select_slider")
date_input = _wrapper("date_input")
time_input = _wrapper("time_input")
color_picker = _wrapper("color_picker")
datetime_input = _wrapper("datetime_input")
pills = _wrapper("pills")
segmented_control = _wrapper("segmented_control")
feedback = _wrapper("feedback")
pagination = _wrapper("pagination")
tabs = _wrapper("tabs")
expander = _wrapper("expander")
