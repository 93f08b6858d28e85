"""A session holding 1 MB in a form of its own: ``bench/memory.py``'s large guarded session."""

import secrets

import st_session_guard as sg

session = sg.bootstrap_session()
if "blob" not in session.get_form_state("big").data:
    # A distinct megabyte per session: text shared between sessions would be counted once.
    session.update_form_data("big", "blob", secrets.token_hex(500_000))
