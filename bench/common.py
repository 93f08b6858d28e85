"""What every benchmark shares: statistics, the verdict line, the machine, and test sessions.

Timings on a shared two-core machine are noisy, so every benchmark measures
its baseline in the same run, interleaved with the measured case, and
reports the ratio (or the difference) of medians rather than one raw
figure. Benchmarks print figures; they never assert them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
POSTGRES_URL = os.environ.get(
    "STSG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SECRET = "bench-secret"
"""Cookie-signing key of the benchmark apps, so the benchmark can sign cookies itself."""

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """(25th, 75th) percentile: how wide the noise was."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def machine() -> str:
    """One line: cores and CPU model, which every figure depends on."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc={os.cpu_count()} cpu={model!r} python={platform.python_version()}"


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   machine: {machine()}")


@contextmanager
def busy_thread() -> Iterator[None]:
    """Another thread running pure Python until the block ends, as an app's script runs do.

    A database driver gives up the GIL for each statement or row it steps
    through, and beside such a thread waits up to 5 ms to win it back.
    """
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(i * i for i in range(1000))

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def verdict(name: str, figure: str, baseline: str, ratio: str, target: str, met: bool | None) -> dict[str, Any]:
    """Print the one line a reader looks for, and keep it for ``run_all``'s summary."""
    state = "n/a" if met is None else ("MET" if met else "MISSED")
    print(f"-> {name}: {figure} | baseline {baseline} | {ratio} | target {target}: {state}")
    row = {"name": name, "figure": figure, "baseline": baseline, "ratio": ratio,
           "target": target, "met": met}
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "verdicts.jsonl").open("a") as out:
        out.write(json.dumps(row) + "\n")
    return row


def git_revision() -> str:
    """The commit measured, and whether the tree differed from it (results aside)."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(ROOT), *args],
                                  capture_output=True, text=True, check=True).stdout.strip()

        changed = git("status", "--porcelain", "--", ".", ":!bench/results")
        return git("rev-parse", "--short", "HEAD") + (" plus uncommitted changes" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def filler_text(size: int, seed: int = 0) -> str:
    """Printable text of ``size`` characters that does not compress to nothing."""
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    state = seed * 2654435761 + 1
    chars = []
    for _ in range(size):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        chars.append(alphabet[state % len(alphabet)])
    return "".join(chars)


def session_of_size(target_bytes: int, *, fields_per_form: int = 10, seed: int = 0) -> Any:
    """A ``UserSession`` whose stored state is about ``target_bytes`` of JSON.

    Built the way an app builds one (``update_form_data``), so it carries
    undo history as real sessions do; sized in the stored layout of this
    release (a first guess, then one rebuild scaled to it).
    """
    count = max(1, target_bytes // 300)  # a 100-character value, and its before/after in the undo step
    session = _edited_session(count, fields_per_form, seed)
    count = max(1, round(count * target_bytes / state_bytes(session)))
    return _edited_session(count, fields_per_form, seed)


def _edited_session(edits: int, fields_per_form: int, seed: int) -> Any:
    from st_session_guard.session import UserSession

    session = UserSession(user_id=f"user{seed}")
    for i in range(edits):
        form = f"form{i // fields_per_form}"
        session.update_form_data(form, f"field{i % fields_per_form}", filler_text(100, seed + i))
    return session


def state_bytes(session: Any) -> int:
    """Bytes of the state column a write of ``session`` stores."""
    return len(session.to_stored().text.encode())
