"""The `airspec` command line."""

from __future__ import annotations

import json
import sys
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated

import typer

from compiler import __version__
from compiler.diagnostics import Diagnostic, format_github, format_json, format_text, has_errors


class Exit(IntEnum):
    """Exit codes (DESIGN.md): decided only by `exit_code`."""

    OK = 0
    ERROR = 1
    PENDING = 2
    DRIFT = 3
    PENDING_AND_DRIFT = 4


def exit_code(*, error: bool = False, pending: bool = False, drift: bool = False) -> Exit:
    if error:
        return Exit.ERROR
    if pending and drift:
        return Exit.PENDING_AND_DRIFT
    if pending:
        return Exit.PENDING
    if drift:
        return Exit.DRIFT
    return Exit.OK


class DiagFormat(StrEnum):
    text = "text"
    github = "github"
    json = "json"


app = typer.Typer(
    name="airspec",
    help="Compile an Airflow deployment's cloud wiring from one spec, and check it against live state.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

SpecsArg = Annotated[
    list[Path],
    typer.Argument(help="Spec files (specs/*.airspec.yaml).", show_default=False),
]
FormatOpt = Annotated[
    DiagFormat,
    typer.Option(
        "--format", "-f", help="How to print diagnostics: text, github (Actions annotations), json."
    ),
]


def _say(message: str) -> None:
    """Progress and summaries go to stderr, so stdout stays parseable."""
    print(message, file=sys.stderr)


def _print_diagnostics(diags: list[Diagnostic], fmt: DiagFormat) -> None:
    if fmt is DiagFormat.json:
        print(format_json(diags))
        return
    for d in sorted(diags):
        print(format_github(d) if fmt is DiagFormat.github else format_text(d))


def _summary(diags: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    parts = [f"{errors} error(s)"] + ([f"{warnings} warning(s)"] if warnings else [])
    return ", ".join(parts)


def _version(value: bool) -> None:
    if value:
        print(f"airspec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """airspec: one spec in git -> reviewable IAM, eksctl, Helm and Kubernetes artifacts."""


@app.command()
def validate(specs: SpecsArg, fmt: FormatOpt = DiagFormat.text) -> None:
    """Check specs and report every problem as file:line:col: CODE message."""
    from compiler.frontend import check_spec

    diags: list[Diagnostic] = []
    for spec in specs:
        diags += check_spec(spec, str(spec)).diagnostics
    _print_diagnostics(diags, fmt)
    if has_errors(diags):
        _say(f"airspec: {_summary(diags)} in {len(specs)} spec(s)")
        raise typer.Exit(exit_code(error=True))
    _say(f"airspec: {len(specs)} spec(s) valid" + (f" ({_summary(diags)})" if diags else ""))


def _source(spec: Path) -> str:
    """The spec as headers name it: relative to the working directory (the project root),
    else its file name, so that no machine-specific path reaches an artifact."""
    try:
        return spec.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return spec.name


@app.command("compile")
def compile_(
    specs: SpecsArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder; each spec writes <out>/<name>/.")
    ] = Path("out"),
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 2 and name the stale files if out/ is not up to date.",
        ),
    ] = False,
    fmt: FormatOpt = DiagFormat.text,
) -> None:
    """Validate specs and lower them into reviewable artifacts under out/<name>/.

    Nothing is written unless every spec compiles; each out/<name>/ is replaced atomically.
    """
    from compiler.emit import render_tree, stale_files, write_tree
    from compiler.pipeline import compile_spec

    diags: list[Diagnostic] = []
    trees: dict[str, tuple[Path, dict[str, bytes]]] = {}
    for spec in specs:
        result = compile_spec(spec, str(spec), _source(spec))
        diags += result.diagnostics
        if result.resolved is None:
            continue
        name = result.resolved.name
        if name in trees:
            _say(f"airspec: {spec} and {trees[name][0]} both name metadata.name '{name}'")
            raise typer.Exit(exit_code(error=True))
        trees[name] = (spec, render_tree(name, result.artifacts, result.resolved.source))
    _print_diagnostics(diags, fmt)
    if has_errors(diags):
        _say(f"airspec: {_summary(diags)}; nothing written")
        raise typer.Exit(exit_code(error=True))
    if check:
        stale = [s for name, (_, files) in trees.items() for s in stale_files(out, name, files)]
        for s in stale:
            print(f"{out.as_posix()}/{s.path}: {s.reason}")
        if stale:
            _say(
                f"airspec: {len(stale)} file(s) in {out} are stale; run 'airspec compile' and commit"
            )
            raise typer.Exit(exit_code(pending=True))
        _say(f"airspec: {out} is up to date ({len(trees)} spec(s))")
        return
    for name, (_, files) in trees.items():
        changed = write_tree(out, name, files)
        _say(
            f"{'wrote' if changed else 'unchanged'} {(out / name).as_posix()}/ ({len(files)} files)"
        )


@app.command()
def resolve(
    spec: Annotated[
        Path, typer.Argument(help="The spec whose live-only values to record.", show_default=False)
    ],
    fmt: FormatOpt = DiagFormat.text,
) -> None:
    """Record values only the live API knows (the EKS cluster's OIDC issuer) in <spec>.lock.json.

    Uses the standard AWS credential chain; AWS_ENDPOINT_URL is honoured.
    """
    from compiler.frontend import check_spec
    from compiler.live.resolve import LiveError, resolve_lock

    checked = check_spec(spec, str(spec))
    if not checked.ok or checked.spec is None:
        _print_diagnostics(list(checked.diagnostics), fmt)
        raise typer.Exit(exit_code(error=True))
    try:
        message = resolve_lock(checked)
    except LiveError as exc:
        _say(f"airspec: {exc}")
        raise typer.Exit(exit_code(error=True)) from None
    _say(message)


@app.command()
def schema() -> None:
    """Print the JSON Schema of spec v1 (for editors: yaml-language-server)."""
    from compiler.model import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2, sort_keys=True))


@app.command()
def explain(
    code: Annotated[
        str | None, typer.Argument(help="A diagnostic code, e.g. AS203. Omit to list all.")
    ] = None,
) -> None:
    """Explain a diagnostic code, or list every code."""
    from compiler.rules.registry import all_rules

    rules = all_rules()
    if code is None:
        for each in rules.values():
            print(f"{each.code}  {each.name:<24} {each.summary}")
        return
    rule = rules.get(code.upper())
    if rule is None:
        _say(f"airspec: unknown code '{code}'; 'airspec explain' lists them")
        raise typer.Exit(exit_code(error=True))
    print(f"{rule.code} {rule.name}\n\n{rule.doc}")


def main() -> None:
    """Console entry point: no traceback reaches the user."""
    try:
        app()
    except KeyboardInterrupt:
        _say("airspec: interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
