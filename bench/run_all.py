"""Every benchmark, one after the other, then one table of verdicts (about 15 minutes on 2 cores).

Each script runs in its own process, exactly as it runs alone; its output
goes to the terminal and to ``bench/results/latest.txt``, and the verdict
lines are gathered from ``bench/results/verdicts.jsonl``.

    python bench/run_all.py              # all of them
    python bench/run_all.py --quick      # fewer rounds, 100,000 rows for recover_session
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import BENCH_DIR, RESULTS, git_revision, machine

FULL: list[list[str]] = [
    ["reload_to_restored.py", "--reloads", "15", "--component-reloads", "10"],
    ["flash_of_defaults.py", "--reloads", "15"],
    ["rerun_overhead.py", "--reruns", "300"],
    ["write_coalescing.py"],
    ["upsert_throughput.py", "--rounds", "3"],
    ["recover_session.py", "--postgres"],
    ["cleanup_expired.py", "--rounds", "3"],
    ["bytes_per_rerun.py", "--edits", "6"],
    ["bytes_per_rerun.py", "--edits", "6", "--prior-edits", "60"],
    ["bundle_size.py"],
    ["load.py"],
    ["memory.py"],
]
QUICK_ARGS = {
    "reload_to_restored.py": ["--reloads", "10", "--component-reloads", "5"],
    "flash_of_defaults.py": ["--reloads", "10"],
    "rerun_overhead.py": ["--reruns", "150"],
    "upsert_throughput.py": ["--rounds", "1"],
    "recover_session.py": ["--rows", "100000", "--lookups", "500"],
    "cleanup_expired.py": ["--rounds", "1"],
    "bytes_per_rerun.py": ["--edits", "3"],
    "load.py": ["--quick"],
    "memory.py": ["--sessions", "500", "--large-sessions", "20"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", help="script names to run (default: all)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "verdicts.jsonl").unlink(missing_ok=True)
    log = (RESULTS / "latest.txt").open("w")

    def say(text: str) -> None:
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    say(f"# st-session-guard benchmarks at {git_revision()}, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    say(f"# {machine()}")
    started = time.monotonic()
    failed: list[str] = []
    for script, *rest in FULL:
        if args.only and script not in args.only:
            continue
        extra = QUICK_ARGS.get(script, []) if args.quick else []
        if args.quick and script == "bytes_per_rerun.py" and "--prior-edits" in rest:
            extra = extra + ["--prior-edits", "60"]
        command = [sys.executable, str(BENCH_DIR / script), *(extra if args.quick else rest)]
        say(f"\n$ python bench/{' '.join([script, *(extra if args.quick else rest)])}")
        began = time.monotonic()
        process = subprocess.Popen(command, cwd=BENCH_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        assert process.stdout is not None
        for line in process.stdout:
            if "missing ScriptRunContext" in line:
                continue
            say(line.rstrip("\n"))
        if process.wait():
            failed.append(script)
            say(f"!! {script} exited with {process.returncode}")
        say(f"   ({time.monotonic() - began:.0f} s)")
    say(f"\n# all done in {(time.monotonic() - started) / 60:.1f} min")
    say("\n| benchmark | figure | baseline (same run) | ratio | target | verdict |")
    say("| --- | --- | --- | --- | --- | --- |")
    verdicts = RESULTS / "verdicts.jsonl"
    for line in verdicts.read_text().splitlines() if verdicts.exists() else []:
        row = json.loads(line)
        state = {True: "met", False: "MISSED", None: "reported"}[row["met"]]
        say(f"| {row['name']} | {row['figure']} | {row['baseline']} | {row['ratio']} | {row['target']} | {state} |")
    if failed:  # a benchmark that broke prints no row: say so where a script or CI sees it
        say(f"\n!! failed, their rows missing: {', '.join(failed)}")
    log.close()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
