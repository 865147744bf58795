"""Run checks in parallel (bounded), turn each result into findings, apply the ignore list;
record what each read saw (`seen.Seen`: the raw object and its version)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from airspec.apply.compare import diff
from airspec.apply.findings import Counts, Finding, Report, Status
from airspec.apply.ignore import IgnoreEntry
from airspec.apply.plan import Check
from airspec.apply.redact import redact_text
from airspec.apply.seen import ABSENT, UNREADABLE, Seen
from airspec.live import readers as live

ORDER = {Status.BROADENING: 0, Status.ERROR: 1, Status.MISSING: 2, Status.DRIFT: 3}


@dataclass(frozen=True)
class SpecChecks:
    spec: str  # metadata.name
    checks: list[Check]
    clients: live.Clients


def _whole(spec: str, check: Check, status: Status, message: str) -> list[Finding]:
    """A finding about the whole object: it is missing, or it could not be read."""
    return [
        Finding(
            spec=spec,
            artifact=check.artifact,
            target=check.target,
            status=status,
            path="",
            message=redact_text(message),  # a server's message may echo what it was sent
        )
    ]


def _run_one(spec: str, check: Check, clients: live.Clients, seen: Seen) -> list[Finding]:
    key = (spec, check.target)
    try:
        raw = check.read(clients)
        if raw is not None:
            got, version = check.normal(raw), check.version(raw)
    except live.ReadError as exc:
        seen.record(key, None, UNREADABLE)
        return _whole(spec, check, Status.ERROR, str(exc))
    except Exception as exc:  # an answer the reader or its normal form cannot take
        seen.record(key, None, UNREADABLE)
        return _whole(spec, check, Status.ERROR, f"{check.target}: {live.unexpected(exc)}")
    if raw is None:
        seen.record(key, None, ABSENT)
        return _whole(spec, check, Status.MISSING, "not found live")
    seen.record(key, raw, version)
    with seen.lock:
        seen.forms[key] = (check, got)
    return diff(
        spec,
        check.artifact,
        check.target,
        check.compiled,
        got,
        broadening=check.broadening,
        secret_env=check.secret_env,
        free_form=check.free_form,
        unordered=check.unordered,
    )


def run(
    work: Sequence[SpecChecks],
    *,
    concurrency: int = 8,
    ignores: Sequence[IgnoreEntry] = (),
    stale: Sequence[str] = (),
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
    seen: Seen | None = None,
) -> Report:
    """Read every live object (at most `concurrency` at once) and build the report; what
    each read saw goes into `seen` when given."""
    seen = seen if seen is not None else Seen()
    jobs = [(w.spec, c, w.clients) for w in work for c in w.checks]
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(_run_one, spec, c, clients, seen) for spec, c, clients in jobs]
        results: list[list[Finding]] = []
        for (_, check, _), fut in zip(jobs, futures, strict=True):
            results.append(fut.result())
            if progress is not None:
                progress(check.target)
    today = today or dt.date.today()
    found: list[Finding] = []
    suppressed: list[Finding] = []
    for findings in results:
        for f in findings:
            reason = next((e.reason for e in ignores if e.matches(f, today)), None)
            if reason is not None and f.status is not Status.ERROR:
                suppressed.append(f.model_copy(update={"suppressed": reason}))
            else:
                found.append(f)
    key = lambda f: (ORDER[f.status], f.spec, f.artifact, f.target, f.path)  # noqa: E731
    found.sort(key=key)
    suppressed.sort(key=key)
    dirty = {(f.spec, f.target) for f in found}
    counts = Counts(
        checked=len(jobs),
        in_sync=sum((spec, c.target) not in dirty for spec, c, _ in jobs),
        missing=sum(f.status is Status.MISSING for f in found),
        drift=sum(f.status is Status.DRIFT for f in found),
        broadening=sum(f.status is Status.BROADENING for f in found),
        error=sum(f.status is Status.ERROR for f in found),
        suppressed=len(suppressed),
    )
    return Report(
        specs=sorted({w.spec for w in work}),
        stale=list(stale),
        counts=counts,
        findings=found,
        suppressed=suppressed,
    )
