"""airspec's benchmark: one table of ratios, each pair measured side by side in this run.

Run by hand from the repository root: `.venv/bin/python bench/run.py [--runs N]` (N >= 5,
default 7). Each row times two commands in subprocesses, interleaved (A, B, A, B, ...) so a busy
machine slows both alike, and prints min and median of each and the ratio of the medians
against the row's target. Results of a run are recorded in bench/RESULTS.md.

Rows (the targets are issues "airspec in a team's workflow" and 25, "speed"):
  1. cold `airspec compile <one example>` into a new out/ vs `python -c "import pydantic,
     ruamel.yaml, jsonschema"` (target <= 1.5x); extra rows show what the compile must import.
  2. `airspec compile <100 specs>` into a new folder vs a ruamel.yaml load + dump of the same
     100 files (target <= 1.5x).
  3. no-op `airspec compile <100 specs> --check` against their current out/ (the incremental
     compile's fast path) vs a Python process that reads and sha256-hashes the same input and
     output files (target <= 2x); and the same check with --force (everything compiled).
  4. `airspec validate <500 generated variants>` vs a ruamel.yaml load + dump of them (no target).
  5. `apply --dry-run`, the webinar spec's 15 live objects in moto + FakeKube with 100 ms
     added per request: --concurrency 8 vs 1 (target >= 4x); the same at 0 ms is the fixed
     cost, against `python -c "import boto3, kubernetes.client, pydantic, ruamel.yaml,
     jsonschema, deepdiff"`, the import floor of the dry run's stack (target <= 2x); and
     (serial - fixed) / (parallel - fixed) the speed-up of the reads themselves.
  6. `apply --dry-run` of 20 specs on that cluster (about 300 live objects, applied first) at
     100 ms per request: --concurrency 1 vs 16, end to end (target >= 8x).
  7. API requests per live object in a dry run of 1 spec vs 20 specs (target: equal; no N+1).

Peak memory (the largest resident set of each command's process) and CPU time (user +
system), medians over the runs, are printed beside the times, and the ratio of the CPU times
beside the ratio of the wall times: on a shared machine the CPU time moves less.

Bytecode caching is on for the subprocesses (PYTHONDONTWRITEBYTECODE is removed from their
environment, and each command runs once before timing): "cold" means a new process, as a user
or CI runs it, not source compiled anew.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

PY = sys.executable
AIRSPEC = str(Path(PY).parent / "airspec")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ROUNDTRIP = """
import io, sys, pathlib
from ruamel.yaml import YAML
y = YAML()
for p in sorted(pathlib.Path(sys.argv[1]).rglob("*.airspec.yaml")):
    data = y.load(p.read_text()); out = io.StringIO(); y.dump(data, out)
"""

Cmd = list[str] | Callable[[], list[str]]


def _argv(cmd: Cmd) -> list[str]:
    return cmd() if callable(cmd) else cmd


# Each command is started by a small launcher process, which times it and reads its rusage:
# Linux carries a process's peak RSS across exec (the memory of the process that forked it
# counts), so a command forked straight from this process, which holds moto and FakeKube for
# the dry-run rows, would report this process's memory as its own.
LAUNCH = """
import os, sys, time
null = os.open(os.devnull, os.O_WRONLY)
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ,
                      file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Wall time, peak resident set (KiB) and CPU time (user + system) of one command run to
    its end: on a shared machine the CPU time moves less than the wall time."""
    got = subprocess.run(
        [PY, "-c", LAUNCH, *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    took, peak, used = got.stdout.split()
    return float(took), int(peak), float(used)


PEAKS: dict[int, int] = {}  # id(times list) -> median peak RSS of its runs (KiB)
CPU: dict[int, float] = {}  # id(times list) -> median CPU seconds of its runs


def side_by_side(
    a: Cmd, b: Cmd, runs: int, env: dict[str, str] | None = None
) -> tuple[list[float], list[float]]:
    """Wall times of `a` and `b`, interleaved, after one untimed run of each (their peak
    memory is kept in PEAKS)."""
    env = env or ENV
    for cmd in (a, b):
        _run(_argv(cmd), env)
    ta: list[float] = []
    tb: list[float] = []
    peaks: dict[int, list[int]] = {id(ta): [], id(tb): []}
    cpu: dict[int, list[float]] = {id(ta): [], id(tb): []}
    for _ in range(runs):
        for cmd, times in ((a, ta), (b, tb)):
            took, peak, used = _run(_argv(cmd), env)
            times.append(took)
            peaks[id(times)].append(peak)
            cpu[id(times)].append(used)
    for key, values in peaks.items():
        PEAKS[key] = int(statistics.median(values))
        CPU[key] = statistics.median(cpu[key])
    return ta, tb


def fmt(times: list[float]) -> str:
    text = f"{min(times) * 1000:7.0f} / {statistics.median(times) * 1000:7.0f} ms"
    peak, cpu = PEAKS.get(id(times)), CPU.get(id(times))
    return text + (f", {peak / 1024:.0f} MB, cpu {cpu * 1000:.0f} ms" if peak and cpu else "")


ROWS: list[tuple[str, str, str, str, str]] = []  # (measure, A, B, ratio, target)


def row(measure: str, a: list[float], b: list[float], target: str) -> None:
    ratio = f"{statistics.median(a) / statistics.median(b):.2f}x"
    if id(a) in CPU and id(b) in CPU:
        ratio += f" (cpu {CPU[id(a)] / CPU[id(b)]:.2f}x)"
    ROWS.append((measure, fmt(a), fmt(b), ratio, target))


# the import floor of the dry run's stack (issue 25)
DRY_RUN_FLOOR = "import boto3, kubernetes.client, pydantic, ruamel.yaml, jsonschema, deepdiff"

HASH_FILES = """
import hashlib, os, sys
for top in sys.argv[1:]:
    for folder, _, files in os.walk(top):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                hashlib.sha256(f.read()).hexdigest()
"""


def variants(folder: Path, count: int) -> Path:
    """`count` copies of the example specs, each claiming its own live objects (AS225):
    distinct metadata.name, namespace, role and policy, Google service account, release."""
    folder.mkdir(parents=True)
    (folder / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
    examples = sorted((ROOT / "specs").glob("*.airspec.yaml"))
    for i in range(count):
        text = vary(examples[i % len(examples)].read_text(), i)
        (folder / f"s{i:03d}.airspec.yaml").write_text(text)
    return folder


def vary(text: str, i: int) -> str:
    """Spec `text` made the i-th of a fleet: its own name, namespace, role and policy, Google
    service account and release (the live objects it claims), the same cluster and buckets."""
    text = re.sub(
        r"(\nmetadata:\n  name: )([a-z0-9-]+)",
        lambda m: f"{m[1]}{m[2][:40]}-{i}",
        text,
        count=1,
    )
    text = re.sub(r"(\n  namespace: )([a-z0-9-]+)", rf"\g<1>\g<2>-{i}", text, count=1)
    text = re.sub(
        r"(role: \{name: )(\w+)(, policyName: )(\w+)", rf"\g<1>\g<2>{i}\g<3>\g<4>{i}", text
    )
    text = re.sub(r"(\n    serviceAccount: )([a-z0-9-]+)", rf"\g<1>\g<2>-{i}", text, count=1)
    return re.sub(r"(releaseName: )([a-z0-9-]+)", rf"\g<1>\g<2>-{i}", text, count=1)


def bench_compile(runs: int, tmp: Path) -> None:
    one = str(ROOT / "specs" / "remote-exec-eks.airspec.yaml")
    counter = iter(range(10**6))
    a, b = side_by_side(  # a new out/ each time: nothing is current, the spec is compiled
        lambda: [AIRSPEC, "compile", one, "--out", str(tmp / f"one{next(counter)}")],
        [PY, "-c", "import pydantic, ruamel.yaml, jsonschema"],
        runs,
    )
    row("cold compile, 1 spec  vs  import pydantic+ruamel+jsonschema", a, b, "<= 1.5x")
    # what the compile cannot avoid importing, for the same baseline (no targets)
    for what, code in (
        ("  import airspec.cli (typer, click, rich)", "import airspec.cli"),
        ("  import airspec.pipeline (model, rules, passes)", "import airspec.pipeline"),
        (
            "  from pydantic import BaseModel + typer",
            "from pydantic import BaseModel; import typer",
        ),
    ):
        x, y = side_by_side(
            [PY, "-c", code], [PY, "-c", "import pydantic, ruamel.yaml, jsonschema"], runs
        )
        row(what, x, y, "(explains row 1)")

    hundred = variants(tmp / "hundred", 100)
    a, b = side_by_side(
        lambda: [AIRSPEC, "compile", str(hundred), "--out", str(tmp / f"out{next(counter)}")],
        [PY, "-c", ROUNDTRIP, str(hundred)],
        runs,
    )
    row("compile 100 specs (new out/)  vs  ruamel load+dump of them", a, b, "<= 1.5x")

    current = tmp / "current"
    subprocess.run([AIRSPEC, "compile", str(hundred), "--out", str(current)], capture_output=True)
    check = [AIRSPEC, "compile", str(hundred), "--out", str(current), "--check"]
    a, b = side_by_side(check, [PY, "-c", HASH_FILES, str(hundred), str(current)], runs)
    row("no-op compile --check, 100 specs  vs  read+sha256 their inputs and out/", a, b, "<= 2x")
    a, b = side_by_side(
        [*check, "--force"], [PY, "-c", HASH_FILES, str(hundred), str(current)], runs
    )
    row("  the same with --force (every spec compiled)", a, b, "(explains row)")
    x, y = side_by_side(
        [AIRSPEC, "--version"], [PY, "-c", HASH_FILES, str(hundred), str(current)], runs
    )
    row("  airspec --version (the CLI's start-up alone)", x, y, "(explains row)")

    many = variants(tmp / "five-hundred", 500)
    a, b = side_by_side(
        [AIRSPEC, "validate", str(many)], [PY, "-c", ROUNDTRIP, str(many)], max(5, runs // 2)
    )
    row("validate 500 variants  vs  ruamel load+dump of them", a, b, "(none)")


def bench_apply(runs: int, tmp: Path) -> None:
    from live_servers import FakeKube, RecordingMotoServer
    from test_apply import World

    moto = RecordingMotoServer()
    moto.start()
    try:
        with FakeKube() as kube:
            (tmp / "world").mkdir()
            world = World(tmp / "world", moto, kube)
            route = kube.server.RequestHandlerClass._serve  # type: ignore[attr-defined]
            delay = {"s": 0.0}

            def slow(self, route=route):  # type: ignore[no-untyped-def]
                time.sleep(delay["s"])
                route(self)

            kube.server.RequestHandlerClass.do_GET = slow  # type: ignore[attr-defined]
            env = {**ENV, **world.env}
            base = [
                AIRSPEC,
                "apply",
                str(world.spec),
                "--dry-run",
                "--out",
                str(world.out),
                "-f",
                "json",
            ]
            delay["s"] = moto.recorder.delay = 0.1
            serial, parallel = side_by_side(
                [*base, "--concurrency", "1"], [*base, "--concurrency", "8"], runs, env
            )
            row(
                "dry run, 15 objects, +100 ms/request: conc 1  /  conc 8", serial, parallel, ">= 4x"
            )
            delay["s"] = moto.recorder.delay = 0.0
            fixed, floor = side_by_side(
                [*base, "--concurrency", "8"], [PY, "-c", DRY_RUN_FLOOR], runs, env
            )
            row(
                "dry-run fixed cost (0 ms/request, 1 spec, all targets)  vs  import of its stack",
                fixed,
                floor,
                "<= 2x",
            )
            reads_serial = statistics.median(serial) - statistics.median(fixed)
            reads_parallel = statistics.median(parallel) - statistics.median(fixed)
            ROWS.append(
                (
                    "  reads only: (serial - fixed) / (parallel - fixed)",
                    f"{reads_serial * 1000:7.0f} ms",
                    f"{reads_parallel * 1000:7.0f} ms",
                    f"{reads_serial / max(reads_parallel, 1e-3):.2f}x",
                    ">= 4x",
                )
            )
            bench_fleet(runs, world, env, delay)
    finally:
        moto.stop()


def bench_fleet(runs: int, world: Any, env: dict[str, str], delay: dict[str, float]) -> None:
    """20 specs on the world's cluster, their objects live (applied first, at 0 ms): the dry
    run at 100 ms per request with --concurrency 1 and 16, end to end."""
    fleet = world.spec.parent / "fleet"
    fleet.mkdir()
    shutil.copy(world.spec.parent / "constraints.txt", fleet / "constraints.txt")
    text = world.spec.read_text()
    for i in range(20):
        (fleet / f"s{i:02d}.airspec.yaml").write_text(vary(text, i))
    out = world.spec.parent / "fleet-out"
    delay["s"] = world.moto.recorder.delay = 0.0
    for argv in (["compile", str(fleet)], ["apply", str(fleet), "--yes"]):
        subprocess.run([AIRSPEC, *argv, "--out", str(out)], env=env, capture_output=True)
    base = [AIRSPEC, "apply", str(fleet), "--dry-run", "--out", str(out), "-f", "json"]
    report = subprocess.run(base, env=env, capture_output=True, text=True)
    counts = json.loads(report.stdout)["counts"]
    delay["s"] = world.moto.recorder.delay = 0.1
    serial, parallel = side_by_side(
        [*base, "--concurrency", "1"], [*base, "--concurrency", "16"], runs, env
    )
    row(
        f"dry run, 20 specs ({counts['checked']} objects, {counts.get('in_sync', '?')} in sync), "
        "+100 ms/request: conc 1  /  conc 16",
        serial,
        parallel,
        ">= 8x",
    )
    delay["s"] = world.moto.recorder.delay = 0.0


def bench_requests(tmp: Path) -> None:
    """Requests per live object for 1 and for 20 specs (objects absent: the same reads)."""
    from live_servers import FakeKube, RecordingMotoServer, moto_env

    moto = RecordingMotoServer()
    moto.start()
    per_object = {}
    try:
        with FakeKube() as kube:
            kubeconfig = kube.kubeconfig(tmp)
            env = {**ENV, **moto_env(moto.url), "KUBECONFIG": str(kubeconfig)}
            for n in (1, 20):
                folder = tmp / f"req{n}"
                folder.mkdir()
                (folder / "constraints.txt").write_text(
                    (ROOT / "specs" / "constraints.txt").read_text()
                )
                text = (ROOT / "specs" / "remote-exec-eks.airspec.yaml").read_text()
                for i in range(n):
                    (folder / f"s{i}.airspec.yaml").write_text(
                        text.replace("name: remote-exec-demo", f"name: demo-{i}")
                        .replace("AirflowS3LoggerXComRole", f"Role{i}")
                        .replace("AirflowS3Access", f"Access{i}")
                        .replace("namespace: airflow-agents", f"namespace: agents-{i}")
                    )
                out = folder / "out"
                subprocess.run(
                    [AIRSPEC, "compile", str(folder), "--out", str(out)],
                    env=env,
                    capture_output=True,
                )
                moto.recorder.calls.clear()
                kube.calls.clear()
                got = subprocess.run(
                    [AIRSPEC, "apply", str(folder), "--dry-run", "--out", str(out), "-f", "json"],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                checked = json.loads(got.stdout)["counts"]["checked"]
                requests = len(moto.recorder.calls) + len(kube.calls)
                per_object[n] = (requests, checked)
    finally:
        moto.stop()
    (r1, c1), (r20, c20) = per_object[1], per_object[20]
    ROWS.append(
        (
            "API requests per live object: 20 specs  vs  1 spec",
            f"{r20}/{c20} = {r20 / c20:.2f}",
            f"{r1}/{c1} = {r1 / c1:.2f}",
            f"{(r20 / c20) / (r1 / c1):.2f}x",
            "<= 1.0x",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="repetitions per command (at least 5)")
    parser.add_argument("--only", choices=["compile", "apply", "requests"], help="run one group")
    args = parser.parse_args()
    runs = max(5, args.runs)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.only in (None, "compile"):
            bench_compile(runs, tmp)
        if args.only in (None, "apply"):
            bench_apply(runs, tmp)
        if args.only in (None, "requests"):
            bench_requests(tmp)
    print(f"airspec bench: {runs} runs per command, min / median; ratio = median A / median B")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print()
    print("| measure | A (min / median) | B (min / median) | ratio | target |")
    print("|---|---|---|---|---|")
    for measure, a, b, ratio, target in ROWS:
        print(f"| {measure} | {a} | {b} | {ratio} | {target} |")


if __name__ == "__main__":
    main()
