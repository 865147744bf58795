"""Reports as text (a terminal), JSON (versioned) or Markdown (a PR comment or job summary):
the drift report, apply's plan and result, and the error that stopped a run.

Every string shown comes from a spec or live state, so none is trusted: each passes
`shown` (the redactor's text rule, then control characters written as escapes, so a newline
or an ANSI sequence in a live value can neither break a line nor repaint a terminal). Text is
plain lines, whole values, no markup read (`[...]` prints as written); Markdown puts every
value in a code span (HTML and emphasis are inert there) with `|` escaped, so no input
changes a table's shape. Nothing is cut: a report that shortened a value could hide the
part that changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airspec.apply.findings import (
    EMPTY_COUNTS,
    ApplyDocument,
    ApplyResult,
    ErrorInfo,
    FailedAction,
    Finding,
    PlanCheck,
    PlannedAction,
    Report,
    Status,
)
from airspec.apply.redact import redact_text

if TYPE_CHECKING:
    from airspec.apply.actions import Action
    from airspec.apply.converge import Outcome

TITLES = {
    Status.BROADENING: "Security: live grants broader than compiled",
    Status.ERROR: "Could not read",
    Status.MISSING: "Missing live",
    Status.DRIFT: "Drift",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: str) -> str:
    """A string safe to print: credentials cut out, control characters escaped."""
    return _CONTROL.sub(
        lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), redact_text(text)
    )


def shown_value(value: Any) -> str:
    """A finding's value, whole: a report that cut it could hide what changed."""
    if value is None:
        return "—"
    if isinstance(value, dict) and value.get("redacted"):
        return f"<redacted {value.get('type', 'value')}>"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return shown(text)


def code(text: str) -> str:
    """`text` as a Markdown code span inside a table cell: a fence longer than any run of
    backticks in it, `|` escaped (GFM splits cells before it reads code spans)."""
    text = shown(text)
    if not text:
        return "—"
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or run else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def fenced(lines: Sequence[str], lang: str = "") -> list[str]:
    """A fenced code block that no line can close early."""
    body = [shown(line) for line in lines]
    run = max((len(m) for line in body for m in re.findall(r"`{3,}|~{3,}", line)), default=0)
    fence = "`" * max(3, run + 1)
    return [fence + lang, *body, fence]


# --- the drift report -------------------------------------------------------------------------


def _summary(report: Report) -> str:
    c = report.counts
    parts = [
        f"{c.checked} live object(s) checked",
        f"{c.in_sync} in sync",
        f"{c.broadening} broadening",
        f"{c.missing} missing",
        f"{c.drift} drift",
        f"{c.error} unreadable",
        f"{c.suppressed} suppressed",
    ]
    return ", ".join(parts)


def _groups(report: Report) -> list[tuple[Status, list[Finding]]]:
    out = []
    for status in TITLES:
        group = [f for f in report.findings if f.status is status]
        if group:
            out.append((status, group))
    return out


def to_json(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True)


def error_report(error: ErrorInfo, specs: Sequence[str] = ()) -> Report:
    """The drift report of a run that stopped before reading: no findings, the error."""
    return Report(specs=sorted(specs), counts=EMPTY_COUNTS, findings=[], error=error)


def to_markdown(report: Report) -> str:
    c = report.counts
    lines = [f"### airspec drift: {', '.join(report.specs) or 'no spec read'}", ""]
    if report.error is not None:
        lines += error_markdown(report.error)
    lines += [
        "| in sync | broadening | missing | drift | unreadable | suppressed |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {c.in_sync}/{c.checked} | {c.broadening} | {c.missing} | {c.drift} | {c.error} | {c.suppressed} |",
        "",
    ]
    if report.stale:
        lines += ["`out/` is stale: " + ", ".join(code(s) for s in report.stale), ""]
    for status, group in _groups(report):
        lines += [f"#### {TITLES[status]}", ""]
        if status is Status.ERROR:
            lines += ["| artifact | live object | error |", "|---|---|---|"]
            rows = [[code(f.artifact), code(f.target), code(f.message)] for f in group]
        else:
            lines += [
                "| artifact | live object | path | compiled | live |",
                "|---|---|---|---|---|",
            ]
            rows = [
                [
                    code(f.artifact),
                    code(f.target),
                    code(f.path or f.message),
                    code(shown_value(f.compiled)),
                    code(shown_value(f.live)),
                ]
                for f in group
            ]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
        lines.append("")
    if report.suppressed:
        lines += [f"<details><summary>{len(report.suppressed)} suppressed</summary>", ""]
        lines += [
            f"- {code(f.artifact)} {code(f.path)}: {code(f.suppressed or '')}"
            for f in report.suppressed
        ]
        lines += ["", "</details>", ""]
    if not report.findings and report.error is None:
        lines += ["Everything compiled is in sync with live state.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def text_report(report: Report) -> str:
    """The report for a terminal or a CI log: one block per finding, every value whole and
    on its own line (a table would fold or cut it), plain text (no markup is read)."""
    lines: list[str] = []
    if report.stale:
        lines.append("out/ is stale: " + shown(", ".join(report.stale)))
        lines.append("")
    for status, group in _groups(report):
        lines += [f"{TITLES[status]} ({len(group)})", ""]
        for f in group:
            lines.append(f"  {shown(f.target)}   ({shown(f.artifact)})")
            if status is Status.ERROR:
                lines.append(f"    error:    {shown(f.message)}")
            else:
                lines.append(f"    {'path:' if f.path else 'what:':<9} {shown(f.path or f.message)}")
                if f.path:
                    lines.append(f"    {'':<9} {shown(f.message)}")
                lines.append(f"    compiled: {shown_value(f.compiled)}")
                lines.append(f"    live:     {shown_value(f.live)}")
            lines.append("")
    if report.suppressed:
        lines.append(f"{len(report.suppressed)} finding(s) suppressed by .airspecignore")
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


# --- errors -----------------------------------------------------------------------------------


def error_markdown(error: ErrorInfo) -> list[str]:
    lines = [f"**airspec stopped ({shown(error.kind)}):**", "", *fenced(error.message.splitlines())]
    for d in error.diagnostics:
        where = f"{d.get('file')}:{d.get('line')}:{d.get('col')}"
        lines.append(f"- {code(where)} {code(str(d.get('code')))} {code(str(d.get('message')))}")
    return [*lines, ""]


# --- apply: the plan and what happened ---------------------------------------------------------


def _planned(a: Action) -> PlannedAction:
    return PlannedAction(
        spec=a.spec,
        target=a.target,
        action=str(a.verb),
        summary=redact_text(a.summary),
        findings=a.findings,
        commands=[redact_text(c) for c in a.commands],
        calls=[redact_text(c) for c in a.done],
        shared_by=a.shared_by,
    )


def apply_document(
    actions: Sequence[Action],
    outcome: Outcome | None = None,
    *,
    specs: Sequence[str] = (),
    owners: dict[str, str] | None = None,
    in_sync: Sequence[str] = (),
    error: ErrorInfo | None = None,
    plan_file: PlanCheck | None = None,
) -> ApplyDocument:
    """The plan, and after a run what became of every object it read."""
    from airspec.apply.actions import Verb

    result = None
    if outcome is not None:
        failed = outcome.failed
        apart = (Verb.UNREADABLE, Verb.CLAIMED, Verb.REFUSED, Verb.NOTE)
        left = [a for a in outcome.left if a.verb not in apart]
        result = ApplyResult(
            applied=[a.target for a in outcome.applied],
            failed=None
            if failed is None
            else FailedAction(
                target=failed.target,
                error=redact_text(outcome.error),
                calls=[redact_text(c) for c in failed.done],
            ),
            interrupted=outcome.interrupted,
            not_run=[a.target for a in outcome.not_run],
            unreadable=[a.target for a in outcome.left if a.verb is Verb.UNREADABLE],
            claimed=[a.target for a in outcome.left if a.verb is Verb.CLAIMED],
            refused=[a.target for a in outcome.left if a.verb is Verb.REFUSED],
            left=[a.target for a in left],
            in_sync=sorted(in_sync),
            notes=[redact_text(a.summary) for a in outcome.left if a.verb is Verb.NOTE],
        )
    return ApplyDocument(
        specs=sorted(specs),
        owners=dict(sorted((owners or {}).items())),
        plan=[_planned(a) for a in actions],
        result=result,
        error=error,
        plan_file=plan_file,
    )


def apply_json(doc: ApplyDocument) -> str:
    return json.dumps(doc.model_dump(mode="json"), indent=2, sort_keys=True)


def plan_lines(actions: Sequence[Action]) -> list[str]:
    """The plan for a terminal: one line per action, then the commands left to the user."""
    lines = []
    for a in actions:
        shared = f" (shared with {', '.join(a.shared_by)})" if a.shared_by else ""
        lines.append(shown(f"{a.verb:<10} {a.spec}{shared}: {a.summary}  [{a.target}]"))
        for c in a.commands:
            where = f"(cd {a.cwd.as_posix()} && {c})" if a.cwd else c
            lines.append("             " + shown(where))
    return lines


def outcome_lines(outcome: Outcome) -> list[str]:
    """What happened, for a terminal: every call made, a failed action's included."""
    lines = []
    for a in outcome.applied:
        lines.append(shown(f"applied    {a.spec}: {a.summary}"))
        lines += ["             " + shown(call) for call in a.done]
    if outcome.failed is not None:
        word = "INTERRUPTED" if outcome.interrupted else "FAILED"
        lines.append(shown(f"{word:<10} {outcome.failed.spec}: {outcome.failed.summary}"))
        lines += ["             made: " + shown(call) for call in outcome.failed.done]
        lines.append("             " + shown(outcome.error))
    lines += [shown(f"not run    {a.spec}: {a.summary}") for a in outcome.not_run]
    return lines


def _plan_file_markdown(p: PlanCheck) -> list[str]:
    """Which saved plan was applied, and what moved since it was made (then it was not)."""
    said = "nothing moved since it was made." if not p.moved else "moved since it was made:"
    lines = [f"Saved plan {code(p.path)} {code(p.digest[:19])}, made {code(p.created)}: {said}", ""]
    if p.moved:
        lines += ["| what moved | planned | now |", "|---|---|---|"]
        lines += [f"| {code(m.what)} | {code(m.planned)} | {code(m.now)} |" for m in p.moved]
        lines.append("")
    return lines


def apply_markdown(doc: ApplyDocument) -> str:
    """The plan and result as a Markdown summary: a table of actions, then the commands."""
    lines = [f"### airspec apply: {', '.join(doc.specs) or 'no spec read'}", ""]
    if doc.plan_file is not None:
        lines += _plan_file_markdown(doc.plan_file)
    if doc.error is not None:
        lines += error_markdown(doc.error)
    if doc.plan:
        lines += ["| action | spec | live object | summary |", "|---|---|---|---|"]
        for p in doc.plan:
            lines.append(
                f"| {code(p.action)} | {code(p.spec)} | {code(p.target)} | {code(p.summary)} |"
            )
        lines.append("")
        commands = [c for p in doc.plan for c in p.commands]
        if commands:
            lines += ["Left to you:", "", *fenced(commands, "sh"), ""]
    elif doc.error is None:
        lines += ["Nothing to do: live state matches the compiled artifacts.", ""]
    r = doc.result
    if r is not None:
        counts = [
            ("applied", len(r.applied)),
            ("failed", int(r.failed is not None)),
            ("not run", len(r.not_run)),
            ("unreadable", len(r.unreadable)),
            ("claimed", len(r.claimed)),
            ("refused", len(r.refused)),
            ("left", len(r.left)),
            ("in sync", len(r.in_sync)),
        ]
        lines += ["| " + " | ".join(k for k, _ in counts) + " |", "|" + "---:|" * len(counts)]
        lines += ["| " + " | ".join(str(v) for _, v in counts) + " |", ""]
        calls = [c for p in doc.plan for c in p.calls]
        if calls:
            lines += ["Calls made:", "", *fenced(calls), ""]
        if r.failed is not None:
            lines += [f"**Stopped at** {code(r.failed.target)}: {code(r.failed.error)}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
