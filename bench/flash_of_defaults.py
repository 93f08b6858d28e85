"""Frames in which a restored widget shows its declared default after a reload (target: none).

The recorder of ``browser.py`` counts, from the first frame of each reload,
every animation frame in which any of the ten widgets shows the default the
app declares for it, instead of the restored value. An empty text field is
Streamlit's mount and is not counted (a plain app with a hard-coded value
shows it too). Three pages are reloaded alternately:

- ``apps/guarded_form.py``: st-session-guard, values restored from the cookie's session;
- ``apps/plain_form.py``: the baseline, values hard-coded (counts what the detector sees
  with no restore at all, which must be 0);
- ``apps/naive_form.py``: the usual hand-made restore through ``st.session_state`` before
  the widgets, which Streamlit paints a frame late: the control that shows the
  detector does see a flash when there is one.

    python bench/flash_of_defaults.py [--reloads 15]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from browser import chromium, recorder, reload_and_record, session_cookie, start_app, store_session
from common import header, verdict
from form_spec import restored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=15, help="per page")
    args = parser.parse_args()
    header(f"flash of defaults: {args.reloads} reloads per page, interleaved")
    names = ("guarded_form", "plain_form", "naive_form")
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
        servers = {}
        try:
            for name in names:
                Path(tmp, name).mkdir()
                servers[name] = start_app(name, Path(tmp, name))
            with chromium() as browser:
                session = store_session(f"sqlite:///{Path(tmp, 'guarded_form', 'sessions.db')}", restored())
                pages: dict[str, Any] = {}
                for name, server in servers.items():
                    context = browser.new_context(viewport={"width": 1280, "height": 1000})
                    context.add_cookies([session_cookie(server, session.session_id)])
                    context.add_init_script(recorder(restored()))
                    pages[name] = context.new_page()
                    pages[name].goto(server.url)
                    reload_and_record(pages[name])
                frames = {name: 0 for name in names}
                reloads_with_flash = {name: 0 for name in names}
                samples: dict[str, list[Any]] = {name: [] for name in names}
                seen = {name: 0 for name in names}
                for i in range(args.reloads):
                    for name in names if i % 2 else reversed(names):
                        result = reload_and_record(pages[name])
                        frames[name] += result["defaultFrames"]
                        seen[name] += result["frames"]
                        reloads_with_flash[name] += bool(result["defaultFrames"])
                        samples[name].extend(result["defaultSamples"][:1])
        finally:
            for server in servers.values():
                server.stop()
    for name in names:
        print(f"   {name:13}: {frames[name]} frames with a declared default in {seen[name]} frames recorded,"
              f" {reloads_with_flash[name]}/{args.reloads} reloads; first samples {samples[name][:3]}")
    verdict(
        "frames showing a declared default after a reload",
        f"{frames['guarded_form']} frames in {args.reloads} reloads",
        f"plain {frames['plain_form']}; hand-made session_state restore {frames['naive_form']} "
        f"({reloads_with_flash['naive_form']}/{args.reloads} reloads)",
        "n/a (a count)",
        "0",
        frames["guarded_form"] == 0,
    )


if __name__ == "__main__":
    main()
