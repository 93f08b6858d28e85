"""The same fifty widgets through st-session-guard, after ``bootstrap_session()``."""

from fifty_widgets import draw, timed

import st_session_guard as sg


def body() -> None:
    sg.bootstrap_session()
    draw(sg, form_id="bench")


timed("guarded", body)
