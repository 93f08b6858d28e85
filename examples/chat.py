"""A chat whose conversation survives a refresh, a server restart and a crash.

``streamlit run examples/chat.py``. The conversation lives in
``session.storage["messages"]``: appending to it is enough to store it, in
the browser's mirror and the database of record. The assistant is canned
(no network), its reply streamed word by word as a model's would be.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
st.title("Chat")

messages = session.storage.setdefault("messages", [])
for message in messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])


def reply(prompt: str) -> Iterator[str]:
    """A canned answer, a word at a time, as a language model's stream arrives."""
    for word in f'You said "{prompt}". Refresh the page: this conversation stays.'.split(" "):
        yield word + " "
        time.sleep(0.02)


if prompt := st.chat_input("Say something"):
    messages.append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        answer = st.write_stream(reply(prompt))
    messages.append({"role": "assistant", "content": answer})
    # The guard sent this run's changes at bootstrap_session(); the run this starts
    # hands the exchange to the browser's mirror at once, rather than on the next message.
    st.rerun()

if messages and st.button("Clear the conversation"):
    messages.clear()
    st.rerun()
