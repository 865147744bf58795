"""The drift check as a library call: compile, check staleness, plan, guard, read, report.

    from airspec.apply.dry_run import dry_run
    report = dry_run([Path("specs/demo.airspec.yaml")], targets={"iam", "s3"})

`airspec apply --dry-run` is this plus option parsing and output.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from airspec.apply.findings import Report
from airspec.apply.guard import Expected, identity_problems
from airspec.apply.ignore import IgnoreEntry, find_ignore_file, load_ignores
from airspec.apply.owner import Owner, OwnerError, owner_for
from airspec.apply.plan import SERVICES, plan
from airspec.apply.runner import SpecChecks, run
from airspec.artifact import Service
from airspec.diagnostics import DiagnosticsError, has_errors
from airspec.emit import render_tree, stale_out
from airspec.live.readers import Clients, ReadError, unexpected
from airspec.pipeline import Compiled, compile_specs


class UnknownTarget(ValueError):
    """A `--target` that names no live service."""


class WrongIdentity(Exception):
    """The credentials are for another account or project than the specs name; nothing
    else was read."""

    def __init__(self, problems: list[str], specs: list[str] | None = None) -> None:
        self.problems = problems
        self.specs = specs or []
        super().__init__("; ".join(problems))


Runner = Callable[..., Report]


@dataclass(frozen=True)
class Prepared:
    """Everything read before live state: the checks per spec, the compiled specs, which
    out/ files are stale, the accepted drift."""

    work: list[SpecChecks]
    compiled: list[Compiled]
    stale: list[str]
    ignores: list[IgnoreEntry]
    owners: dict[str, Owner | None]  # metadata.name -> owner identity (None: not known)


def prepare(
    specs: Sequence[Path],
    *,
    out: Path = Path("out"),
    targets: Collection[str] | None = None,
    kube_context: str | None = None,
    ignore_file: Path | None = None,
    owners_required: bool = False,
) -> Prepared:
    """Compile `specs`, decide each one's owner identity, plan their checks, guard the
    credentials' identity.

    Raises DiagnosticsError when a spec or the ignore file has errors (nothing is read),
    OwnerError when `owners_required` and an owner identity cannot be decided, WrongIdentity
    when the credentials are for another account or project, UnknownTarget for an unknown
    target.
    """
    chosen = set(targets or SERVICES)
    if chosen - set(SERVICES):
        raise UnknownTarget(
            f"unknown target {', '.join(sorted(chosen - set(SERVICES)))}; "
            f"choose from {', '.join(SERVICES)}"
        )
    if chosen & {str(s) for s in _KUBE}:
        _preload("kubernetes.client", "kubernetes.config")  # the slowest import, started first
    batch = compile_specs(specs, out)
    if has_errors(batch.diagnostics):
        raise DiagnosticsError(batch.diagnostics)
    shared = Clients(kube_context=kube_context)
    work: list[SpecChecks] = []
    expected: list[Expected] = []
    trees: dict[str, dict[str, bytes]] = {}
    owners: dict[str, Owner | None] = {}
    members = {
        c.resolved.name: c.resolved.gcp_members
        for c in batch.compiled
        if c.resolved is not None and c.resolved.spec.cloud.gcp is not None
    }
    for result in batch.compiled:
        r = result.resolved
        assert r is not None
        try:
            owners[r.name] = owner_for(result.spec_path, r.name, r.source)
        except OwnerError:
            if owners_required:
                raise
            owners[r.name] = None  # the dry run compares what it can without it
        trees[r.name] = render_tree(r.name, result.artifacts, r.source)
        aws, gcp = r.spec.cloud.aws, r.spec.cloud.gcp
        identity = owners[r.name]
        owner = identity.identity if identity is not None else None
        others = frozenset().union(*(m for name, m in members.items() if name != r.name))
        checks = [c for c in plan(r, result.artifacts, owner, others) if c.service in chosen]
        clients = shared.for_region(aws.region if aws else None)
        work.append(SpecChecks(r.name, checks, clients))
        expected.append(
            Expected(
                r.name,
                frozenset(c.service for c in checks),
                aws.account_id if aws else None,
                gcp.project if gcp else None,
            )
        )
    _warm(work)  # clients are built while the staleness check and the identity guard run
    stale = [f"{out.as_posix()}/{s.path}" for s in stale_out(out, batch.root, trees)]
    ignores = _ignores(ignore_file or find_ignore_file(sorted({s.parent for s in specs})))
    try:
        problems = identity_problems(expected, work[0].clients if work else shared)
    except ReadError as exc:
        problems = [f"cannot tell whose credentials these are: {exc}"]
    except Exception as exc:  # an answer the guard cannot take (a proxy's page)
        problems = [f"cannot tell whose credentials these are: {unexpected(exc)}"]
    if problems:
        raise WrongIdentity(problems, [w.spec for w in work])
    return Prepared(work, list(batch.compiled), stale, ignores, owners)


def dry_run(
    specs: Sequence[Path],
    *,
    out: Path = Path("out"),
    targets: Collection[str] | None = None,
    kube_context: str | None = None,
    ignore_file: Path | None = None,
    concurrency: int = 8,
    runner: Runner = run,
) -> Report:
    """Compare the compiled artifacts of `specs` with live state; change nothing.

    Raises as `prepare` does. `runner` runs the reads (the CLI passes one that shows
    progress).
    """
    p = prepare(specs, out=out, targets=targets, kube_context=kube_context, ignore_file=ignore_file)
    return runner(p.work, concurrency=concurrency, ignores=p.ignores, stale=p.stale)


_AWS_CLIENT = {Service.IAM: "iam", Service.EKS: "eks", Service.S3: "s3"}
_KUBE = {Service.KUBERNETES, Service.HELM}


def _warm(work: list[SpecChecks]) -> None:
    """Build every client the reads will use, in the background, once per run (specs of
    one region share their clients, so each is warmed once)."""
    aws: set[tuple[str, str | None]] = set()
    kube = False
    for w in work:
        services = {c.service for c in w.checks}
        region = w.clients.region
        aws |= {(_AWS_CLIENT[s], region) for s in services & set(_AWS_CLIENT)}
        if services & set(_AWS_CLIENT):
            aws.add(("sts", region))  # the identity guard
        kube = kube or bool(services & _KUBE)
    if work:
        # STS first: the identity guard waits for it alone, and its request is in flight
        # while the other clients are built (one at a time: they share the session)
        first = sorted(aws, key=lambda job: (job[0] != "sts", str(job)))
        work[0].clients.warm(aws=first, kube=kube)


def _preload(*modules: str) -> None:
    """Import `modules` in the background while the specs compile: the client built later
    finds them loaded. A failure is left for the read that needs the client."""
    import importlib
    import threading

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:
                return

    threading.Thread(target=load, daemon=True).start()


def _ignores(path: Path | None) -> list[IgnoreEntry]:
    return load_ignores(path) if path is not None else []
