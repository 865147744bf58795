"""The drift report as text (rich, for a terminal), JSON (versioned) or Markdown (PR comment)."""

from __future__ import annotations

import json
from typing import Any

from airspec.apply.findings import Finding, Report, Status

TITLES = {
    Status.BROADENING: "Security: live grants broader than compiled",
    Status.ERROR: "Could not read",
    Status.MISSING: "Missing live",
    Status.DRIFT: "Drift",
}


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict) and value.get("redacted"):
        return f"<secret sha256:{value['sha256']} length {value['length']}>"
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 160 else text[:157] + "..."


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


def to_markdown(report: Report) -> str:
    c = report.counts
    lines = [
        f"### airspec drift: {', '.join(report.specs)}",
        "",
        "| in sync | broadening | missing | drift | unreadable | suppressed |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {c.in_sync}/{c.checked} | {c.broadening} | {c.missing} | {c.drift} | {c.error} | {c.suppressed} |",
        "",
    ]
    if report.stale:
        lines += ["`out/` is stale: " + ", ".join(f"`{s}`" for s in report.stale), ""]
    for status, group in _groups(report):
        lines += [f"#### {TITLES[status]}", ""]
        if status is Status.ERROR:
            lines += ["| artifact | live object | error |", "|---|---|---|"]
            rows = [[f"`{f.artifact}`", f"`{f.target}`", _md(f.message)] for f in group]
        else:
            lines += [
                "| artifact | live object | path | compiled | live |",
                "|---|---|---|---|---|",
            ]
            rows = [
                [
                    f"`{f.artifact}`",
                    f"`{f.target}`",
                    f"`{f.path}`" if f.path else f.message,
                    _md(_value(f.compiled)),
                    _md(_value(f.live)),
                ]
                for f in group
            ]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
        lines.append("")
    if report.suppressed:
        lines += [f"<details><summary>{len(report.suppressed)} suppressed</summary>", ""]
        lines += [f"- `{f.artifact}` `{f.path}`: {f.suppressed}" for f in report.suppressed]
        lines += ["", "</details>", ""]
    if not report.findings:
        lines += ["Everything compiled is in sync with live state.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`" if text != "—" else text


def print_text(report: Report, console: Any) -> None:
    """Human output through a rich Console."""
    from rich.table import Table

    if report.stale:
        console.print(f"[yellow]out/ is stale:[/] {', '.join(report.stale)}")
    for status, group in _groups(report):
        style = "bold red" if status in (Status.BROADENING, Status.ERROR) else "bold yellow"
        table = Table(title=TITLES[status], title_style=style, title_justify="left", expand=False)
        if status is Status.ERROR:
            for col in ("artifact", "live object", "error"):
                table.add_column(col, overflow="fold")
            for f in group:
                table.add_row(f.artifact, f.target, f.message)
        else:
            for col in ("artifact", "live object", "path", "compiled", "live"):
                table.add_column(col, overflow="fold")
            for f in group:
                table.add_row(
                    f.artifact, f.target, f.path or f.message, _value(f.compiled), _value(f.live)
                )
        console.print(table)
    if report.suppressed:
        console.print(f"{len(report.suppressed)} finding(s) suppressed by .airspecignore")
    console.print(_summary(report), markup=False)
