"""A chat whose reply streams until a gate opens: the streaming-reply tests' app.

The reply's last word waits for the file ``REPLY_GATE`` names, so a test can
let the guard take the page while the script is still streaming, then let the
run end. Otherwise it is ``examples/chat.py``: the conversation lives in
``session.storage["messages"]``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

import st_session_guard as sg

GATE = Path(os.environ["REPLY_GATE"])

session = sg.bootstrap_session()
messages = session.storage.setdefault("messages", [])
for message in messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])


def reply(prompt: str) -> Iterator[str]:
    """Two words at once, the last once the gate is open; each chunk is a point where a rerun cuts in."""
    yield "You said "
    while not GATE.exists():
        time.sleep(0.05)
    yield f'"{prompt}".'


if prompt := st.chat_input("Say something"):
    messages.append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        answer = st.write_stream(reply(prompt))
    messages.append({"role": "assistant", "content": answer})
    st.rerun()
