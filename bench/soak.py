"""The chaos soak (issue "Under fire"): every venue simulated, 2 workers, Redis and book
followers under a random fault schedule; prints the account and exits 1 if a check fails.

    .venv/bin/python bench/soak.py [--seconds 600] [--seed 1] [--faults kill_worker,gap,...]

Not a test: a shortened run is ``tests/chaos/test_soak.py``.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from feedgate.chaos.faults import BY_NAME
from feedgate.chaos.soak import run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default="", help=f"a fixed order of: {', '.join(BY_NAME)}")
    args = parser.parse_args()
    schedule = [f for f in args.faults.split(",") if f] or None
    print(f"machine: {platform.node()}, Python {platform.python_version()}", flush=True)
    report = run_soak(args.seconds, args.seed, schedule)
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
