"""Where a capacity-bench server spends its time: py-spy samples of the server while it holds N calls.

Run: ``.venv/bin/python bench/capacity_profile.py --calls 35`` (about 90 s; needs ``py-spy`` from the dev
extra). It starts ``bench/capacity.py --levels N`` (stand-in engines, Silero on; results are not written),
waits for the calls to settle, records the server process with py-spy for ``--seconds``, and prints the
functions with the most samples: self time and inclusive time, for the event-loop thread and the worker
threads apart. Samples are wall-clock while a thread is active, so on a busy machine a thread waiting for the
CPU or the GIL is counted where it waits; compare shares within one run, not across machines.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PY_SPY = Path(sys.executable).parent / "py-spy"
_LOCATION = re.compile(r" \((.*?):\d+\)")


def server_pid(parent: int, timeout_s: float = 120.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-P", str(parent), "-f", "capacity_server.py"],
                               capture_output=True, text=True, check=False).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.5)
    raise TimeoutError("the capacity server did not start")


def summarise(raw: Path, top: int) -> None:
    threads: dict[str, Counter[str]] = {"event loop": Counter(), "worker threads": Counter()}
    inclusive: dict[str, Counter[str]] = {"event loop": Counter(), "worker threads": Counter()}
    totals: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        kind = "worker threads" if frames[0].startswith("Thread._bootstrap") else "event loop"
        n = int(count)
        totals[kind] += n
        leaf = frames[-1]
        where = _LOCATION.search(leaf)
        threads[kind][_LOCATION.sub("", leaf) + (f"  ({Path(where.group(1)).name})" if where else "")] += n
        for name in {_LOCATION.sub("", frame) for frame in frames}:
            inclusive[kind][name] += n
    for kind in ("event loop", "worker threads"):
        total = totals[kind] or 1
        print(f"\n== {kind}: {totals[kind]} samples\n-- self")
        for name, n in threads[kind].most_common(top):
            print(f"{100 * n / total:5.1f} %  {name}")
        print("-- inclusive")
        for name, n in inclusive[kind].most_common(top + 25)[25:] if kind == "event loop" else \
                inclusive[kind].most_common(top):
            print(f"{100 * n / total:5.1f} %  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=35)
    parser.add_argument("--phase", default="standin", help="standin or standin-fakevad")
    parser.add_argument("--seconds", type=int, default=30, help="how long py-spy records")
    parser.add_argument("--rate", type=int, default=40, help="samples per second")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    if not PY_SPY.exists():
        parser.error(f"{PY_SPY} is missing: pip install py-spy (it is in the dev extra)")
    with tempfile.TemporaryDirectory(prefix="sdr-profile-") as tmp:
        raw = Path(tmp) / "profile.txt"
        bench = subprocess.Popen(
            [sys.executable, str(BENCH / "capacity.py"), "--phases", args.phase, "--levels", str(args.calls),
             "--settle", "10", "--window", str(args.seconds + 30)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            pid = server_pid(bench.pid)
            # Start-up and the agent's set-up, the calls placed 150 ms apart, then into the measured window.
            time.sleep(25 + args.calls * 0.15 + 5)
            subprocess.run([str(PY_SPY), "record", "--pid", str(pid), "--nonblocking", "-r", str(args.rate),
                            "-d", str(args.seconds), "-f", "raw", "-o", str(raw)],
                           check=True, capture_output=True)
        finally:
            bench.wait(timeout=300)
        print(f"py-spy, {args.phase} engines, {args.calls} calls, {args.seconds} s at {args.rate} Hz")
        summarise(raw, args.top)


if __name__ == "__main__":
    main()
