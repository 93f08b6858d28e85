"""Debian's nginx as a round-robin load balancer in front of several Streamlit servers.

The configuration is the one ``docs/deployment.md`` documents: round robin,
no sticky sessions, WebSocket upgrade for ``/_stcore/stream``, the next
server tried when one does not answer (a server that died costs a
reconnect, not an error page), and a component's files asked of the next
server when one has not run the app's script yet.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from st_session_guard.testing import free_port, wait_until

CONFIG = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;

{site}
}}
"""

SITE = """\
    upstream streamlit {{
{servers}
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout 2s;
        location / {{
            proxy_pass http://streamlit;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 86400;
            proxy_next_upstream error timeout http_502 http_503;
        }}
        # A server serves a component's files only once a script run has
        # declared it there: ask the next server when this one has not yet.
        location /component/ {{
            proxy_pass http://streamlit;
            proxy_next_upstream error timeout http_404 http_502 http_503;
        }}
    }}
"""


def site_config(backends: Sequence[int], port: int) -> str:
    """The ``http`` block's part that balances ``backends`` (ports on 127.0.0.1) behind ``port``."""
    servers = "\n".join(
        f"        server 127.0.0.1:{backend} max_fails=1 fail_timeout=5s;" for backend in backends
    )
    return SITE.format(servers=servers, port=port)


def nginx_binary() -> str | None:
    """Debian's nginx, which lives in /usr/sbin, outside a user's PATH."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if Path(found).exists() else None


class LoadBalancer:
    """One nginx process balancing the given backend ports; ``url`` is where browsers go."""

    def __init__(self, backends: Sequence[int], root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.config_path = root / "nginx.conf"
        self.config_path.write_text(CONFIG.format(root=root, site=site_config(backends, self.port)))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoadBalancer:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("no nginx: install Debian's nginx (apt-get install nginx)")
        log = (self.root / "nginx.out").open("ab")
        self.process = subprocess.Popen(
            [binary, "-p", str(self.root), "-c", str(self.config_path)], stdout=log, stderr=log
        )
        wait_until(self._healthy, 30, f"nginx on port {self.port}")
        return self

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"nginx exited early: {(self.root / 'error.log').read_text()}")
        with suppress(OSError), urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
            return bool(r.status == 200)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
