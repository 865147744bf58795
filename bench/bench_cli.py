"""Measure airspec's start-up and compile cost side by side, in one run, as ratios.

Run by hand: `.venv/bin/python bench/bench_cli.py [--runs N]`. Every figure is the median of
N runs on this machine, and the ratios compare rows measured in the same run, so a busy
machine shifts all rows together.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.airspec.yaml"))


def median_seconds(
    cmd: list[str], runs: int, env: dict[str, str] | None = None, check: bool = True
) -> float:
    """Median wall time of running `cmd` from the repo root `runs` times."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=check, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            "python -c pass": [py, "-c", "pass"],
            "import airspec.cli (lazy imports)": [py, "-c", "import airspec.cli"],
            "import boto3 + kubernetes (what lazy imports avoid)": [
                py,
                "-c",
                "import boto3, kubernetes",
            ],
            "airspec --help": [py, "-m", "airspec", "--help"],
            f"airspec validate ({len(SPECS)} specs)": [py, "-m", "airspec", "validate", *SPECS],
            f"airspec compile --check ({len(SPECS)} specs)": [
                py,
                "-m",
                "airspec",
                "compile",
                *SPECS,
                "--check",
            ],
            f"airspec compile to a new dir ({len(SPECS)} specs)": [
                py,
                "-m",
                "airspec",
                "compile",
                *SPECS,
                "--out",
                tmp,
            ],
        }
        results = {name: median_seconds(cmd, runs) for name, cmd in rows.items()}
    base = results["python -c pass"]
    print(f"median of {runs} runs; ratio = time / (python -c pass)")
    for name, secs in results.items():
        print(f"{name:<55} {secs * 1000:8.1f} ms  {secs / base:6.1f}x")
    per_spec = (
        results[f"airspec compile to a new dir ({len(SPECS)} specs)"] - results["airspec --help"]
    ) / len(SPECS)
    print(f"{'compile cost per spec beyond CLI start-up':<55} {per_spec * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
