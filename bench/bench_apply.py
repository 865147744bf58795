"""Measure `airspec apply --dry-run` against local servers: bounded parallel reads vs serial.

Run by hand: `.venv/bin/python bench/bench_apply.py [--runs N] [--show]`. It builds the
scenario of tests/test_apply.py (the webinar spec's objects in a moto server over HTTP and
a fake Kubernetes API), then times the CLI in subprocesses with --concurrency 1 and 8, the
median of N runs each, side by side. `--delay` adds latency to every AWS and Kubernetes
request, the way a remote API would. `--show` prints the text report after an out-of-band change.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

sys.path.insert(0, str(ROOT / "bench"))

from live_servers import FakeKube, RecordingMotoServer  # noqa: E402
from run import side_by_side  # noqa: E402
from test_apply import World  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.1, help="seconds added to each API request")
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    airspec = str(Path(sys.executable).parent / "airspec")
    moto = RecordingMotoServer()
    moto.start()
    try:
        with FakeKube() as kube, tempfile.TemporaryDirectory() as tmp:
            world = World(Path(tmp), moto, kube)
            route = kube.server.RequestHandlerClass._serve  # type: ignore[attr-defined]

            def slow(self, route=route):  # type: ignore[no-untyped-def]
                time.sleep(args.delay)
                route(self)

            kube.server.RequestHandlerClass.do_GET = slow  # type: ignore[attr-defined]
            moto.recorder.delay = args.delay
            env = {**os.environ, **world.env}
            base = [airspec, "apply", str(world.spec), "--dry-run", "--out", str(world.out)]
            serial, parallel = side_by_side(
                [*base, "--concurrency", "1", "--format", "json"],
                [*base, "--concurrency", "8", "--format", "json"],
                args.runs,
                env,
            )
            rows = [(n, statistics.median(times)) for n, times in ((1, serial), (8, parallel))]
            checked = json.loads(
                subprocess.run(
                    [*base, "--format", "json"], env=env, capture_output=True, text=True
                ).stdout
            )["counts"]["checked"]
            print(
                f"apply --dry-run, {checked} live objects, median of {args.runs} runs, "
                f"{args.delay * 1000:.0f} ms added per API request:"
            )
            for n, t in rows:
                print(f"  --concurrency {n}: {t * 1000:7.1f} ms  ({rows[0][1] / t:.2f}x of serial)")
            if args.show:
                policy = json.loads(json.dumps(world.art["aws/iam-policy.json"]))
                policy["Statement"][1]["Action"].append("s3:DeleteObject")
                world.iam.create_policy_version(
                    PolicyArn="arn:aws:iam::123456789012:policy/AirflowS3Access",
                    PolicyDocument=json.dumps(policy),
                    SetAsDefault=True,
                )
                world.eks.update_nodegroup_config(
                    clusterName="remote-execution-airflow-cluster",
                    nodegroupName="workers",
                    scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 3},
                )
                out = subprocess.run(
                    base, env={**env, "COLUMNS": "160"}, capture_output=True, text=True
                )
                print(out.stdout)
                print(f"exit code {out.returncode}")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
