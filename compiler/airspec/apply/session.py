"""`airspec apply` as one run, with or without --dry-run: compile, guard, read, report; or
read, plan, confirm, execute, report; or read, plan and save the plan (--plan-out); or load
a saved plan, compile, read and plan again, refuse if anything it was made from moved, then
confirm and execute exactly its calls. The CLI parses options and hands a `Ui` that prints.

Every way a run can end goes through `_finish`, which prints exactly one document on stdout
in the chosen format (text, one JSON document, Markdown), the error included, and decides the
exit code (`airspec.exits`). What a person needs while it runs (progress, the plan before the
question, why it stopped) goes to stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from airspec.apply.actions import ERROR_VERBS, Action, Options, Verb
from airspec.apply.findings import (
    ApplyDocument,
    ErrorInfo,
    Moved,
    PlanCheck,
    PlanRequest,
    Report,
    Status,
)
from airspec.apply.planfile import MAX_AGE
from airspec.apply.redact import redact_text
from airspec.apply.render import (
    apply_document,
    apply_json,
    apply_markdown,
    error_report,
    outcome_lines,
    plan_lines,
    shown,
    text_report,
    to_json,
    to_markdown,
)
from airspec.apply.seen import Seen
from airspec.diagnostics import Diagnostic, format_text
from airspec.exits import Exit, exit_code

if TYPE_CHECKING:
    from airspec.apply.converge import Outcome
    from airspec.apply.dry_run import Prepared


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Ui(Protocol):
    """How a run talks to the person (or pipeline) that started it."""

    def out(self, text: str) -> None:
        """Write to stdout, as given."""

    def err(self, line: str) -> None:
        """One line to stderr."""

    def confirm(self, question: str) -> bool | None:
        """Ask on the terminal; None when there is no terminal to ask on."""

    def progress(self, total: int, label: str) -> AbstractContextManager[Callable[[str], None]]:
        """A progress display for `total` steps; the callable advances it by one."""


@dataclass(frozen=True)
class Request:
    specs: list[Path]  # as given: files and folders
    out: Path = Path("out")
    targets: list[str] | None = None
    kube_context: str | None = None
    ignore_file: Path | None = None
    concurrency: int = 8
    fmt: Format = Format.text
    dry_run: bool = True
    options: Options = field(default_factory=Options)
    yes: bool = False
    fail_on: frozenset[str] = frozenset({"broadening", "missing", "drift"})
    plan_out: Path | None = None  # --plan-out: write the plan there, change nothing
    plan_file: Path | None = None  # apply this saved plan (specs and options come from it)
    max_age: float = MAX_AGE  # seconds: an older plan is refused
    expect_digest: str | None = None  # apply this plan only if its digest is this one


class _Stop(Exception):
    """The run ends here: why, and with which exit code."""

    def __init__(
        self,
        kind: str,
        message: str,
        code: Exit,
        *,
        diagnostics: Sequence[Diagnostic] = (),
        lines: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        message = redact_text(message)  # a server's or a remote's text may carry a credential
        self.error = ErrorInfo(
            kind=kind,
            message=message,
            diagnostics=[asdict(d) | {"severity": str(d.severity)} for d in sorted(diagnostics)],
        )
        self.code = code
        self.diagnostics = sorted(diagnostics)
        self.lines = list(lines) or [f"airspec: {message}"]


@dataclass
class _State:
    """What the run knows so far, for whatever document ends it."""

    specs: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)
    plan_check: PlanCheck | None = None  # apply plan.json: the plan, and what moved
    checked: int = 0  # live objects read


class _SafeLines:
    """The Ui with every stderr line escaped: a server's message never writes a line of its
    own (a carriage return, a newline, an ANSI sequence) nor shows a credential."""

    def __init__(self, ui: Ui) -> None:
        self.ui = ui

    def out(self, text: str) -> None:
        self.ui.out(text)

    def err(self, line: str) -> None:
        self.ui.err(shown(line))

    def confirm(self, question: str) -> bool | None:
        return self.ui.confirm(shown(question))

    def progress(self, total: int, label: str) -> AbstractContextManager[Callable[[str], None]]:
        return self.ui.progress(total, label)


DEBUG_ENV = "AIRSPEC_DEBUG"  # set: an unexpected error shows its traceback


def run(req: Request, ui: Ui) -> int:
    """Run `airspec apply` (or its dry run) and return the exit code."""
    import os

    safe = _SafeLines(ui)
    state = _State()
    try:
        with _terminated_is_interrupted():
            if req.plan_file is not None:
                return _apply_plan(req, safe, state)
            return _dry_run(req, safe, state) if req.dry_run else _apply(req, safe, state)
    except _Stop as stop:
        for line in stop.lines:
            safe.err(line)
        _emit_error(req, safe, state, stop)
        return stop.code
    except Exception as exc:  # a bug: still one document, no traceback (AIRSPEC_DEBUG=1 shows it)
        if os.environ.get(DEBUG_ENV):
            raise
        bug = _Stop(
            "internal",
            f"unexpected {type(exc).__name__}: {exc}; rerun with {DEBUG_ENV}=1 for the traceback "
            "and report it",
            Exit.ERROR,
        )
        for line in bug.lines:
            safe.err(line)
        _emit_error(req, safe, state, bug)
        return bug.code


@contextmanager
def _terminated_is_interrupted() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) stops a run as Ctrl-C does: what was applied is listed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _emit_error(req: Request, ui: Ui, state: _State, stop: _Stop) -> None:
    """The one document of a run that stopped: JSON or Markdown carry the error; text shows
    a spec's diagnostics on stdout, as `validate` does (the rest went to stderr)."""
    error = stop.error
    if req.fmt is Format.text:
        ui.out("".join(format_text(d) + "\n" for d in stop.diagnostics))
        return
    if req.dry_run and req.plan_file is None:
        report = error_report(error, state.specs)
        ui.out(to_json(report) + "\n" if req.fmt is Format.json else to_markdown(report))
        return
    if req.plan_out is not None and req.fmt is Format.markdown:
        from airspec.apply.render_plan import plan_error_markdown

        ui.out(plan_error_markdown(error, state.specs))
        return
    doc = apply_document(
        state.actions,
        None,
        specs=state.specs,
        owners=state.owners,
        error=error,
        plan_file=state.plan_check,
    )
    ui.out(apply_json(doc) + "\n" if req.fmt is Format.json else apply_markdown(doc))


# --- before live state: the specs, the targets, the credentials, the owner --------------------


@contextmanager
def _interruptible(changed: str) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        raise _Stop("interrupted", f"interrupted; {changed}", Exit.INTERRUPTED) from None


def _prepare(req: Request, state: _State) -> Prepared:
    from airspec.apply.dry_run import UnknownTarget, WrongIdentity, prepare
    from airspec.apply.owner import OwnerError
    from airspec.diagnostics import DiagnosticsError
    from airspec.pipeline import NoSpecs, expand_specs

    nothing = "nothing read" if req.dry_run else "nothing read, nothing changed"
    try:
        specs = expand_specs(req.specs)
    except NoSpecs as exc:
        raise _Stop("usage", str(exc), Exit.ERROR) from None
    try:
        prepared = prepare(
            specs,
            out=req.out,
            targets=req.targets,
            kube_context=req.kube_context,
            ignore_file=req.ignore_file,
            owners_required=not req.dry_run,
        )
    except UnknownTarget as exc:
        raise _Stop("usage", str(exc), Exit.ERROR) from None
    except DiagnosticsError as exc:
        diags = list(exc.diagnostics)
        errors = sum(d.is_error for d in diags)
        message = f"{errors} error(s) in the specs; {nothing}"
        raise _Stop("spec", message, Exit.ERROR, diagnostics=diags) from None
    except OwnerError as exc:
        raise _Stop("owner", f"{exc}; {nothing}", Exit.ERROR) from None
    except WrongIdentity as exc:
        done = "nothing was changed" if not req.dry_run else "nothing else was read"
        message = "; ".join(exc.problems) + f"; {done}"
        lines = [f"airspec: {p}" for p in exc.problems]
        lines.append(f"airspec: {done}; use credentials for the spec's account or project")
        state.specs = sorted(exc.specs)
        raise _Stop("identity", message, Exit.ERROR, lines=lines) from None
    state.specs = sorted(w.spec for w in prepared.work)
    state.owners = {k: v.identity for k, v in prepared.owners.items() if v is not None}
    return prepared


def _read(
    req: Request, ui: Ui, prepared: Prepared, stale: list[str], seen: Seen | None = None
) -> Report:
    from airspec.apply.runner import run as run_checks

    total = sum(len(w.checks) for w in prepared.work)
    with ui.progress(total, "reading live state") as advance:
        return run_checks(
            prepared.work,
            concurrency=req.concurrency,
            ignores=prepared.ignores,
            stale=stale,
            progress=advance,
            seen=seen,
        )


def _in_sync(prepared: Prepared, report: Report) -> list[str]:
    dirty = {(f.spec, f.target) for f in report.findings}
    return sorted(
        {c.target for w in prepared.work for c in w.checks if (w.spec, c.target) not in dirty}
    )


# --- the dry run ------------------------------------------------------------------------------


def _dry_run(req: Request, ui: Ui, state: _State) -> int:
    with _interruptible("nothing was changed"):
        prepared = _prepare(req, state)
        report = _read(req, ui, prepared, prepared.stale)
    if req.fmt is Format.json:
        ui.out(to_json(report) + "\n")
    elif req.fmt is Format.markdown:
        ui.out(to_markdown(report))
    else:
        ui.out(text_report(report))
    errors = any(f.status is Status.ERROR for f in report.findings)
    drift = any(f.status.value in req.fail_on for f in report.findings)
    return exit_code(error=errors, pending=bool(report.stale), drift=drift)


# --- apply ------------------------------------------------------------------------------------


def _apply(req: Request, ui: Ui, state: _State) -> int:
    if req.plan_out is not None:
        _check_plan_out(req, req.plan_out)
    with _interruptible("nothing was changed"):
        prepared = _prepare(req, state)
        _refuse_stale(prepared)
        seen = Seen()
        _plan(req, ui, state, prepared, seen)
    if req.plan_out is not None:
        return _save_plan(req, ui, state, prepared, seen)
    return _run_plan(req, ui, state, merge_on_conflict=True)


def _check_plan_out(req: Request, path: Path) -> None:
    """--plan-out never overwrites an input of the run (a spec, out/, a file that is not a
    plan): refused before anything is read."""
    from airspec.apply import planfile
    from airspec.pipeline import NoSpecs, expand_specs

    try:
        specs = expand_specs(req.specs)
    except NoSpecs:
        specs = []  # _prepare says so
    try:
        planfile.check_target(path, specs, req.out)
    except planfile.PlanError as exc:
        raise _Stop("plan", f"{exc}; nothing was read or written", Exit.ERROR) from None


def _refuse_stale(prepared: Prepared) -> None:
    if prepared.stale:
        lines = [f"airspec: {shown(p)} is not current" for p in prepared.stale]
        message = (
            "apply converges to the reviewed out/ tree, and it is stale; run 'airspec "
            "compile' and review the diff first. Nothing was changed"
        )
        raise _Stop("stale", message, Exit.PENDING, lines=[*lines, f"airspec: {message}"])


def _plan(req: Request, ui: Ui, state: _State, prepared: Prepared, seen: Seen) -> list[Action]:
    """Read live state and decide every action (with its calls)."""
    from airspec.apply import converge

    report = _read(req, ui, prepared, [], seen)
    owners = {k: v for k, v in prepared.owners.items() if v is not None}
    actions = converge.plan_actions(
        report, prepared.work, prepared.compiled, req.out, req.options, owners, seen
    )
    state.actions, state.in_sync = actions, _in_sync(prepared, report)
    state.checked = report.counts.checked
    return actions


def _save_plan(req: Request, ui: Ui, state: _State, prepared: Prepared, seen: Seen) -> int:
    """--plan-out: write the plan (nothing is changed) and print it; exit 1 when it holds
    objects claimed by another spec or unreadable (it is written all the same)."""
    from airspec.apply import planfile
    from airspec.apply.render_plan import plan_markdown, plan_text

    assert req.plan_out is not None
    o = req.options
    request = PlanRequest(
        specs=[p.as_posix() for p in req.specs],
        out=req.out.as_posix(),
        targets=sorted(req.targets) if req.targets else None,
        context=req.kube_context,
        ignore_file=req.ignore_file.as_posix() if req.ignore_file else None,
        adopt=o.adopt,
        prune=o.prune,
        with_tools=o.with_tools,
    )
    doc = planfile.build(
        request,
        specs=state.specs,
        owners=state.owners,
        trees=planfile.trees_on_disk(req.out, [w.spec for w in prepared.work]),
        seen=seen,
        actions=state.actions,
        in_sync=state.in_sync,
        aws=any(c.resolved is not None and c.resolved.spec.cloud.aws for c in prepared.compiled),
    )
    try:
        planfile.write(req.plan_out, doc)
    except planfile.PlanError as exc:
        raise _Stop("plan", f"{exc}; nothing was changed", Exit.ERROR) from None
    if req.fmt is Format.json:
        ui.out(planfile.dumps(doc))
    elif req.fmt is Format.markdown:
        ui.out(plan_markdown(doc, plan=req.plan_out.as_posix()))
    else:
        ui.out(plan_text(doc))
    runnable = sum(a.runnable for a in state.actions)
    left = sum(not a.runnable and a.verb is not Verb.NOTE for a in state.actions)
    policy = doc.aws_session_policy
    if policy is not None and len(planfile.packed(policy)) > planfile.SESSION_POLICY_LIMIT:
        ui.err(
            f"airspec: the plan's AWS session policy is {len(planfile.packed(policy))} "
            f"characters, more than the {planfile.SESSION_POLICY_LIMIT} STS accepts inline: "
            "an apply job cannot narrow its role to this plan"
        )
    errors = [a for a in state.actions if a.verb in ERROR_VERBS]
    for a in errors:
        ui.err(f"airspec: {a.verb} {shown(a.target)}: {shown(a.summary)}")
    ui.err(
        f"airspec: plan written to {shown(req.plan_out.as_posix())}: {runnable} to apply, "
        f"{left} left to you; nothing was changed. Apply it with "
        f"'airspec apply {shown(req.plan_out.as_posix())} --yes --expect-digest {doc.digest}'"
    )
    return exit_code(error=bool(errors))


def _apply_plan(req: Request, ui: Ui, state: _State) -> int:
    """apply plan.json: the plan's request compiled, read and planned again; refused (exit 1,
    nothing changed) when the plan is not the one --expect-digest names, expired, from
    another airspec, edited, or when a tree, an owner, an object a planned action acts on,
    or the actions moved."""
    from airspec.apply import planfile

    assert req.plan_file is not None
    try:
        doc = planfile.load(req.plan_file)
        if req.expect_digest is not None:
            planfile.check_digest(doc, req.expect_digest)
        planfile.check_age(doc, req.max_age)
    except planfile.PlanError as exc:
        raise _Stop("plan", f"{exc}; nothing was changed", Exit.ERROR) from None
    r = doc.request
    planned = Request(  # the plan's own request: what it was decided from
        specs=[Path(p) for p in r.specs],
        out=Path(r.out),
        targets=r.targets,
        kube_context=r.context,
        ignore_file=Path(r.ignore_file) if r.ignore_file else None,
        concurrency=req.concurrency,
        fmt=req.fmt,
        dry_run=False,
        options=Options(adopt=r.adopt, with_tools=r.with_tools, prune=r.prune),
        yes=req.yes,
    )
    state.plan_check = PlanCheck(
        path=req.plan_file.as_posix(), digest=doc.digest, created=doc.created
    )
    with _interruptible("nothing was changed"):
        prepared = _prepare(planned, state)
        names = [w.spec for w in prepared.work]
        moved = planfile.moved_trees(doc, planfile.trees_on_disk(planned.out, names), r.out)
        if not moved:
            moved = [Moved(what=p, planned="current", now="stale") for p in prepared.stale]
        moved += planfile.moved_owners(doc, state.owners)
        if not moved:
            seen = Seen()
            _plan(planned, ui, state, prepared, seen)
            moved = planfile.moved_live(doc, seen, state.actions)
    if moved:
        state.plan_check = state.plan_check.model_copy(update={"moved": moved})
        state.actions = []
        lines = [f"airspec: moved since the plan: {shown(planfile.describe([m]))}" for m in moved]
        message = (
            f"refused: {len(moved)} thing(s) moved since the plan was made "
            f"({planfile.describe(moved)}); nothing was changed. Make a new plan and review it"
        )
        raise _Stop("plan", message, Exit.ERROR, lines=[*lines, f"airspec: {shown(message)}"])
    ui.err(f"airspec: plan {doc.digest[:19]} (made {doc.created}): nothing moved since")
    if req.expect_digest is None:
        ui.err(
            "airspec: the plan is not pinned (no --expect-digest): its digest shows only that "
            "the file is whole, not that it is the plan that was reviewed"
        )
    if req.dry_run:  # check it, show it, change nothing
        from airspec.apply.render_plan import plan_markdown, plan_text

        if req.fmt is Format.markdown:
            ui.out(plan_markdown(doc, plan=req.plan_file.as_posix()))
        else:
            ui.out(planfile.dumps(doc) if req.fmt is Format.json else plan_text(doc))
        ui.err("airspec: the plan still applies; nothing was changed (--dry-run)")
        return exit_code()
    return _run_plan(planned, ui, state, merge_on_conflict=False)


def _run_plan(req: Request, ui: Ui, state: _State, *, merge_on_conflict: bool) -> int:
    """Show the plan, confirm it, make its calls, report."""
    from airspec.apply import converge

    actions = state.actions
    runnable = [a for a in actions if a.runnable]
    notes = [a for a in actions if a.verb is Verb.NOTE]
    left = len(actions) - len(runnable) - len(notes)
    if len(notes) == len(actions):
        ui.err(f"airspec: in sync ({state.checked} live objects read); nothing to do")
        for a in notes:
            ui.err(f"airspec: note: {a.summary}")
        return _result(req, ui, state, converge.execute(actions, req.out))
    ui.err(f"airspec: plan: {len(runnable)} to apply, {left} left to you")
    if req.fmt is Format.text:
        ui.out("\n".join(plan_lines(actions)) + "\n")
    else:  # the one JSON or Markdown document comes at the end; people read stderr
        for line in plan_lines(actions):
            ui.err(line)
    if runnable and not req.yes:
        answer = ui.confirm(f"Apply {len(runnable)} change(s)?")
        if answer is None:
            raise _Stop(
                "refused",
                "no terminal to confirm on; rerun with --yes to apply this plan. Nothing was changed",
                Exit.ERROR,
            )
        if not answer:
            raise _Stop("refused", "not confirmed; nothing was changed", Exit.ERROR)
    outcome = converge.execute(
        actions,
        req.out,
        merge_on_conflict=merge_on_conflict,
        progress=lambda a: ui.err(f"airspec: {a.verb} {a.target}"),
    )
    if req.fmt is Format.text and runnable:
        ui.out("\n".join(outcome_lines(outcome)) + "\n")
    return _result(req, ui, state, outcome)


def _result(req: Request, ui: Ui, state: _State, outcome: Outcome) -> int:
    """The one document of a finished apply, and its exit code: 1 when something failed,
    could not be read, or is claimed by another spec; 130 when interrupted; 3 when steps are
    left to the user (refused, manual, pending, orphaned); else 0."""
    doc: ApplyDocument = apply_document(
        state.actions,
        outcome,
        specs=state.specs,
        owners=state.owners,
        in_sync=state.in_sync,
        plan_file=state.plan_check,
    )
    if req.fmt is Format.json:
        ui.out(apply_json(doc) + "\n")
    elif req.fmt is Format.markdown:
        ui.out(apply_markdown(doc))
    if outcome.failed is not None:
        what = "interrupted at" if outcome.interrupted else "stopped at"
        ui.err(
            f"airspec: {what} {shown(outcome.failed.target)}: {shown(outcome.error)}; "
            f"{len(outcome.applied)} applied, {len(outcome.not_run)} not run"
            + ("" if not outcome.failed.done else f"; it made {len(outcome.failed.done)} call(s), listed above")
            + ". Rerun 'airspec apply' to finish: it starts from the live state."
        )
        return exit_code(error=True, interrupted=outcome.interrupted)
    errors = [a for a in outcome.left if a.verb in ERROR_VERBS]
    for a in errors:
        ui.err(f"airspec: {a.verb} {shown(a.target)}: {shown(a.summary)}")
    left = [a for a in outcome.left if a.verb not in ERROR_VERBS and a.verb is not Verb.NOTE]
    if state.actions:
        ui.err(
            f"airspec: {len(outcome.applied)} applied"
            + (f", {len(left)} left to you" if left else "")
            + (f", {len(errors)} need attention" if errors else "")
        )
    return exit_code(error=bool(errors), drift=bool(left))


# `Verb` is re-exported for callers that read a result's actions
__all__ = ["Format", "Request", "Ui", "Verb", "run"]
