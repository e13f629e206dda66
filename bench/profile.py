"""Where one worker's time goes: py-spy samples the worker while the benchmark stack of
``throughput.py`` (simulator → ``feedgate run --workers 1`` → Redis → subscriber) runs, and the
functions are listed by own time (``self``) and by time including callees (``total``).

    .venv/bin/python bench/profile.py [--transport picows] [--connections 100] [--rate 0]

``--rate 0`` saturates; py-spy must be installed (``pip install py-spy``) and allowed to attach.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _proc_stats import tree
from feedgate.runtime.redis_server import EmbeddedRedis, free_port
from throughput import PY, ROOT, gateway_command, load, machine, wait_line


def summarize(raw: Path, top: int, lines: bool = False) -> None:
    own: Counter[str] = Counter()
    own_lines: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")"
                  if " (" in f else f for f in stack.split(";")]  # fmt: skip
        own[frames[-1]] += n
        own_lines[stack.split(";")[-1]] += n
        for name in set(frames):
            total[name] += n
    print(f"{samples} samples")
    print("\n| self | function |\n|---|---|")
    for name, n in own.most_common(top):
        print(f"| {n / samples:.1%} | `{name}` |")
    if lines:
        print("\n| self | line |\n|---|---|")
        for name, n in own_lines.most_common(top):
            print(f"| {n / samples:.1%} | `{name}` |")
    print("\n| total | function |\n|---|---|")
    for name, n in total.most_common(top + 10):
        print(f"| {n / samples:.1%} | `{name}` |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="websockets")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="msgs/s offered; 0 saturates")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--lines", action="store_true", help="self time by source line too")
    parser.add_argument("--native", action="store_true", help="C frames too (py-spy --native)")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    print(f"machine: {machine()}; {load()}")
    procs: list[subprocess.Popen[str]] = []
    with EmbeddedRedis() as redis, tempfile.TemporaryDirectory() as tmp:
        try:
            port = free_port()
            sim = subprocess.Popen(
                [PY, str(ROOT / "_procs.py"), "sim", "--port", str(port), "--symbols",
                 str(args.connections), "--rate", str(args.rate / args.connections)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            procs.append(sim)
            wait_line(sim, "ready", "simulator")
            command, env = gateway_command(
                args.transport, Path(tmp), port, redis, args.connections, 1
            )
            gw = subprocess.Popen(command, text=True, env=env)
            procs.append(gw)
            time.sleep(3.0)
            worker = tree(gw.pid)[-1]
            raw = Path(tmp) / "profile.raw"
            mode = ["--native"] if args.native else ["--nonblocking"]
            subprocess.run(
                [spy, "record", "-p", str(worker), "-d", str(int(args.seconds)), "-f", "raw",
                 "-o", str(raw), "-r", "200", *mode],
                check=True, capture_output=True,
            )  # fmt: skip
            summarize(raw, args.top, args.lines)
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
