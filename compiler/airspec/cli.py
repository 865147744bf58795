"""The `airspec` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airspec.apply.actions import Options
    from airspec.apply.findings import Report
    from airspec.apply.ignore import IgnoreEntry
    from airspec.apply.runner import SpecChecks

from airspec import __version__
from airspec.diagnostics import (
    Diagnostic,
    format_github,
    format_json,
    format_stale_github,
    format_text,
    has_errors,
)


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


class _Group(TyperGroup):
    """The command group, with usage errors exiting 1 (DESIGN.md), not click's 2 (which is
    airspec's "pending" code: a CI job must not read a typo as a stale out/)."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, *, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        try:
            code = super().main(args, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's usage errors (typer vendors click)
            from typer import rich_utils  # only on this path: rich's import is slow

            rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
            code = Exit.ERROR
        except typer.Abort:
            _say("airspec: aborted")
            code = Exit.ERROR
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Group,
    name="airspec",
    help="Compile an Airflow deployment's cloud wiring from one spec, and check it against live state.",
    epilog="Example: airspec compile specs/ && airspec apply specs/ --dry-run",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

SpecsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Spec files, or folders searched recursively for *.airspec.yaml.",
        show_default=False,
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also name each tree that did not change.")
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


def _print_diagnostics(
    diags: list[Diagnostic], fmt: DiagFormat, *, stale: list[tuple[str, str]] | None = None
) -> None:
    """Diagnostics, and for `compile --check` the stale files (path, reason), in one format:
    json is one document, github makes each stale file an annotation."""
    if fmt is DiagFormat.json:
        print(format_json(diags, stale=stale))
        return
    for d in sorted(diags):
        print(format_github(d) if fmt is DiagFormat.github else format_text(d))
    for path, reason in stale or []:
        print(
            format_stale_github(path, reason) if fmt is DiagFormat.github else f"{path}: {reason}"
        )


def _specs(paths: list[Path]) -> list[Path]:
    """The spec files named on the command line, folders expanded."""
    from airspec.pipeline import NoSpecs, expand_specs

    try:
        return expand_specs(paths)
    except NoSpecs as exc:
        _say(f"airspec: {exc}")
        raise typer.Exit(exit_code(error=True)) from None


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


@app.command(epilog="Example: airspec validate specs/  (every *.airspec.yaml under specs/)")
def validate(specs: SpecsArg, fmt: FormatOpt = DiagFormat.text) -> None:
    """Check specs and report every problem as file:line:col: CODE message.

    Reports what `compile` would (the constraints file, the sizes of the compiled IAM
    documents included) and writes nothing.
    """
    from airspec.pipeline import compile_spec

    specs = _specs(specs)
    diags: list[Diagnostic] = []
    for spec in specs:  # what compile would report, the measured artifacts included; no writes
        diags += compile_spec(spec, str(spec), spec.name).diagnostics
    _print_diagnostics(diags, fmt)
    if has_errors(diags):
        _say(f"airspec: {_summary(diags)} in {len(specs)} spec(s)")
        raise typer.Exit(exit_code(error=True))
    _say(f"airspec: {len(specs)} spec(s) valid" + (f" ({_summary(diags)})" if diags else ""))


@app.command(
    "compile",
    epilog="Example: airspec compile specs/ --check --format github  (in CI: fail on a stale out/)",
)
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
    verbose: VerboseOpt = False,
) -> None:
    """Validate specs and lower them into reviewable artifacts under out/<name>/.

    Nothing is written unless every spec compiles; each out/<name>/ is replaced atomically.
    """
    from airspec.emit import EmitError, orphans, render_tree, stale_out, write_tree
    from airspec.pipeline import compile_specs

    specs = _specs(specs)
    batch = compile_specs(specs, out)
    diags = batch.diagnostics
    trees: dict[str, dict[str, bytes]] = {}
    for result in batch.compiled:
        r = result.resolved
        assert r is not None
        trees[r.name] = render_tree(r.name, result.artifacts, r.source)
    if has_errors(diags):
        _print_diagnostics(diags, fmt)
        _say(f"airspec: {_summary(diags)}; nothing written")
        raise typer.Exit(exit_code(error=True))
    if check:
        stale = [
            (f"{out.as_posix()}/{s.path}", s.reason) for s in stale_out(out, batch.root, trees)
        ]
        _print_diagnostics(diags, fmt, stale=stale)
        if stale:
            folders = sum(path.endswith("/") for path, _ in stale)  # leftovers, orphans
            plain = len(stale) - folders
            parts = [f"{plain} file(s)"] if plain else []
            parts += [f"{folders} folder(s)"] if folders else []
            counted = " and ".join(parts)
            _say(f"airspec: {counted} in {out} are stale; run 'airspec compile' and commit")
            raise typer.Exit(exit_code(pending=True))
        _say(f"airspec: {out} is up to date ({len(trees)} spec(s))")
        return
    _print_diagnostics(diags, fmt)
    written = 0
    for name, files in trees.items():
        try:
            changed = write_tree(out, name, files)
        except EmitError as exc:
            _say(
                f"airspec: {exc}; {(out / name).as_posix()}/ and the trees after it were not written"
            )
            raise typer.Exit(exit_code(error=True)) from None
        written += changed
        if changed or verbose:
            _say(
                f"{'wrote' if changed else 'unchanged'} {(out / name).as_posix()}/ "
                f"({len(files)} files)"
            )
    _say(
        f"airspec: {len(trees)} spec(s) compiled into {out.as_posix()}/: {written} written, "
        f"{len(trees) - written} unchanged" + (f" ({_summary(diags)})" if diags else "")
    )
    for orphan in orphans(out, batch.root, trees):
        _say(f"airspec: {out.as_posix()}/{orphan.path} is {orphan.reason}; remove it")


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


FAIL_ON_CHOICES = ("broadening", "missing", "drift")


def _fail_on(value: str) -> set[str]:
    chosen = {v.strip() for v in value.split(",") if v.strip()}
    if chosen == {"none"}:
        return set()
    unknown = chosen - set(FAIL_ON_CHOICES)
    if unknown:
        raise typer.BadParameter(
            f"unknown {', '.join(sorted(unknown))}; use a comma list of "
            f"{', '.join(FAIL_ON_CHOICES)}, or none"
        )
    return chosen


@app.command(
    epilog="Example: airspec apply specs/remote-exec-eks.airspec.yaml --dry-run --format markdown"
)
def apply(
    specs: SpecsArg,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Read live state and report drift; change nothing."),
    ] = False,
    report_format: Annotated[
        ReportFormat,
        typer.Option(
            "--format", "-f", help="Report as text (terminal), json (airspec.drift/v1), markdown."
        ),
    ] = ReportFormat.text,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="Only read these services (repeatable): iam, eks, s3, kubernetes, helm, gke, gcp-iam.",
        ),
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Findings that make the exit code 3: a comma list of broadening, missing, "
            "drift; or none.",
        ),
    ] = "broadening,missing,drift",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The compiled tree to check for staleness.")
    ] = Path("out"),
    context: Annotated[
        str | None, typer.Option("--context", help="kubeconfig context (default: current).")
    ] = None,
    ignore_file: Annotated[
        Path | None,
        typer.Option(
            "--ignore-file",
            help="Accepted drift (default: .airspecignore beside the spec, else in the cwd).",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Live reads at once.")
    ] = 8,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply without asking (required off a terminal).")
    ] = False,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="Take over existing objects airspec did not create: tag them, then update them.",
        ),
    ] = False,
    with_tools: Annotated[
        bool,
        typer.Option(
            "--with-tools",
            help="Run the runbook's eksctl / helm / gcloud / astro steps when the binary is on PATH.",
        ),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete orphans: IAM objects tagged with this spec's name that it no longer names.",
        ),
    ] = False,
) -> None:
    """Make live AWS, Kubernetes and GCP state match the compiled artifacts (--dry-run: only report drift).

    Reads only the objects the compiled artifacts name (IAM policies, roles, OIDC provider, EKS cluster and node groups, buckets, namespace, ConfigMaps, service accounts, the Helm release's values, GKE cluster, GCP IAM policies), with the standard credentials of each API.

    Without --dry-run: the drift becomes a plan (create, update, adopt; refused, manual and pending steps listed), shown and confirmed (--yes to skip), then run in dependency order, stopping at the first failure. Converged: IAM (OIDC provider, policy, role, attachments, log-reader role), owned S3 buckets, EKS Pod Identity (add-on, associations), Kubernetes (k8s/ manifests by server-side apply as field manager airspec; service accounts' identity annotation), GCP (the service account; IAM policies by read-modify-write with the etag, changing only the members and roles airspec grants). Cluster and Helm steps are pending: printed, or run with --with-tools.

    Ownership: what apply creates is tagged airspec.io/spec and airspec.io/name (Kubernetes: field manager airspec); an existing object without it is changed only with --adopt. Nothing airspec did not create is deleted. IAM objects tagged with this spec's name that the spec no longer names are listed as orphaned; --prune deletes them. Buckets are never deleted.

    Exit 0 in sync, 1 error, 2 out/ stale (or, applying, tool steps pending), 3 drift left, 4 stale and drift.
    """
    from functools import partial

    from airspec.apply.dry_run import dry_run as check_live
    from airspec.apply.findings import Status
    from airspec.apply.render import print_text, to_json, to_markdown
    from airspec.apply.runner import run

    failing = _fail_on(fail_on)
    if not dry_run:
        from airspec.apply.actions import Options

        _converge(
            _specs(specs),
            out=out,
            targets=target,
            kube_context=context,
            ignore_file=ignore_file,
            concurrency=concurrency,
            report_format=report_format,
            options=Options(adopt=adopt, with_tools=with_tools, prune=prune),
            yes=yes,
        )
    with _before_live_state(applying=False):
        report = check_live(
            _specs(specs),
            out=out,
            targets=target,
            kube_context=context,
            ignore_file=ignore_file,
            concurrency=concurrency,
            runner=partial(_run_with_progress, run),
        )
    stale = report.stale
    if report_format is ReportFormat.json:
        print(to_json(report))
    elif report_format is ReportFormat.markdown:
        print(to_markdown(report), end="")
    else:
        from rich.console import Console

        print_text(report, Console(soft_wrap=False, width=200 if not sys.stdout.isatty() else None))
    errors = any(f.status is Status.ERROR for f in report.findings)
    drift = any(f.status.value in failing for f in report.findings)
    raise typer.Exit(exit_code(error=errors, pending=bool(stale), drift=drift))


@contextmanager
def _before_live_state(*, applying: bool) -> Iterator[None]:
    """Exit 1, saying why, when the specs, the targets or the credentials stop a dry run or
    an apply before any live object is read."""
    from airspec.apply.dry_run import UnknownTarget, WrongIdentity
    from airspec.diagnostics import DiagnosticsError

    try:
        yield
    except UnknownTarget as exc:
        _say(f"airspec: {exc}")
        raise typer.Exit(exit_code(error=True)) from None
    except DiagnosticsError as exc:
        _print_diagnostics(list(exc.diagnostics), DiagFormat.text)
        done = "nothing read, nothing changed" if applying else "nothing read"
        _say(f"airspec: {_summary(list(exc.diagnostics))}; {done}")
        raise typer.Exit(exit_code(error=True)) from None
    except WrongIdentity as exc:
        for p in exc.problems:
            _say(f"airspec: {p}")
        done = "nothing was changed" if applying else "nothing else was read"
        _say(f"airspec: {done}; use credentials for the spec's account or project")
        raise typer.Exit(exit_code(error=True)) from None


def _converge(
    specs: list[Path],
    *,
    out: Path,
    targets: list[str] | None,
    kube_context: str | None,
    ignore_file: Path | None,
    concurrency: int,
    report_format: ReportFormat,
    options: Options,
    yes: bool,
) -> None:
    """`airspec apply` without --dry-run: read, plan, confirm, execute, report."""
    import json as _json

    from airspec.apply import converge
    from airspec.apply.dry_run import prepare
    from airspec.apply.runner import run

    with _before_live_state(applying=True):
        prepared = prepare(
            specs, out=out, targets=targets, kube_context=kube_context, ignore_file=ignore_file
        )
    if prepared.stale:
        for path in prepared.stale:
            _say(f"airspec: {path} is not current")
        _say(
            "airspec: apply converges to the reviewed out/ tree; run 'airspec compile' and "
            "review the diff first. Nothing was changed."
        )
        raise typer.Exit(exit_code(pending=True))
    report = _run_with_progress(
        run, prepared.work, concurrency=concurrency, ignores=prepared.ignores, stale=[]
    )
    errors = [f for f in report.findings if f.status.value == "error"]
    for f in errors:
        _say(f"airspec: cannot read {f.target}: {f.message}")
    actions = converge.plan_actions(report, prepared.work, prepared.compiled, out, options)
    runnable = [a for a in actions if a.run is not None]

    def show(outcome: converge.Outcome | None = None) -> None:
        if report_format is ReportFormat.json:
            print(_json.dumps(converge.plan_json(actions, outcome), indent=2, sort_keys=True))
            return
        lines = converge.outcome_lines(outcome) if outcome else converge.plan_lines(actions)
        if report_format is ReportFormat.markdown:
            print("```\n" + "\n".join(lines) + "\n```")
        else:
            for line in lines:
                print(line)

    if not actions:
        _say(f"airspec: in sync ({report.counts.checked} live objects read); nothing to do")
        raise typer.Exit(exit_code(error=bool(errors)))
    _say(f"airspec: plan: {len(runnable)} to apply, {len(actions) - len(runnable)} left to you")
    # with --yes, JSON output is one document: the plan with its result, after the run
    one_document = report_format is ReportFormat.json and yes
    if not one_document:
        show()
    if runnable and not yes:
        if not sys.stdin.isatty():
            _say("airspec: no terminal to confirm on; rerun with --yes to apply this plan")
            raise typer.Exit(exit_code(error=True))
        if not typer.confirm(f"Apply {len(runnable)} change(s)?", default=False, err=True):
            _say("airspec: nothing was changed")
            raise typer.Exit(exit_code(error=True))
    outcome = converge.execute(actions, progress=lambda a: _say(f"airspec: {a.verb} {a.target}"))
    if runnable or one_document:
        show(outcome)
    if outcome.failed is not None:
        _say(
            f"airspec: stopped at {outcome.failed.target}: {outcome.error}; "
            f"{len(outcome.applied)} applied, {len(outcome.not_run)} not run. "
            "Rerun 'airspec apply' to finish: it starts from the live state."
        )
        raise typer.Exit(exit_code(error=True))
    pending = any(a.verb is converge.Verb.PENDING for a in outcome.left)
    drift = any(a.verb is not converge.Verb.PENDING for a in outcome.left)
    _say(
        f"airspec: {len(outcome.applied)} applied"
        + (f", {len(outcome.left)} left (listed above)" if outcome.left else "")
    )
    raise typer.Exit(exit_code(error=bool(errors), pending=pending, drift=drift))


def _run_with_progress(
    run: Callable[..., Report],
    work: list[SpecChecks],
    *,
    concurrency: int,
    ignores: list[IgnoreEntry],
    stale: list[str],
) -> Report:
    """Run the reads, with a progress bar on a terminal (stderr), silently otherwise."""
    total = sum(len(w.checks) for w in work)
    if not sys.stderr.isatty() or total == 0:
        return run(work, concurrency=concurrency, ignores=ignores, stale=stale)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("reading live state"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=total)
        return run(
            work,
            concurrency=concurrency,
            ignores=ignores,
            stale=stale,
            progress=lambda what: bar.update(task, advance=1, description=what),
        )


@app.command(
    epilog="Example: airspec resolve specs/remote-exec-eks.airspec.yaml  (after eksctl create cluster)"
)
def resolve(
    spec: Annotated[
        Path, typer.Argument(help="The spec whose live-only values to record.", show_default=False)
    ],
    fmt: FormatOpt = DiagFormat.text,
) -> None:
    """Record values only the live API knows (the EKS cluster's OIDC issuer) in <spec>.lock.json.

    Uses the standard AWS credential chain; AWS_ENDPOINT_URL is honoured.
    """
    from airspec.frontend import check_spec
    from airspec.live.resolve import LiveError, resolve_lock

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


@app.command(
    epilog="Example: airspec init --platform astro-remote-execution --cloud aws specs/orders.airspec.yaml"
)
def init(
    path: Annotated[
        Path,
        typer.Argument(help="Where to write the spec.", show_default=True),
    ] = Path("specs/airflow.airspec.yaml"),
    platform: Annotated[
        str,
        typer.Option(
            "--platform",
            "-p",
            help="astro-remote-execution (agents in your cluster) or astronomer-software.",
        ),
    ] = "astro-remote-execution",
    cloud: Annotated[str, typer.Option("--cloud", "-c", help="aws (EKS) or gcp (GKE).")] = "aws",
    name: Annotated[
        str | None, typer.Option("--name", help="metadata.name (default: from the file name).")
    ] = None,
) -> None:
    """Write a commented starter spec that validates as written; never overwrites a file.

    Also writes the JSON Schema the spec's modeline names (schemas/airspec.schema.json in the
    project) when it is missing, so editors complete and check the fields.
    """
    import os

    from airspec.frontend import check_spec
    from airspec.starter import StarterError, write_starter

    try:
        written = write_starter(path, platform, cloud, name)
    except StarterError as exc:
        _say(f"airspec: {exc}")
        raise typer.Exit(exit_code(error=True)) from None
    _say(f"wrote {path} ({platform} on {cloud}, metadata.name {written.name})")
    if written.schema is not None:
        _say(f"wrote {os.path.relpath(written.schema)} (the schema the modeline names)")
    diags = list(check_spec(path, str(path)).diagnostics)
    if diags:  # a starter that does not validate is a bug; say so rather than hide it
        _print_diagnostics(diags, DiagFormat.text)
    _say(f"next: edit the values marked 'yours', then airspec compile {path}")


@app.command(epilog="Example: airspec schema > schemas/airspec.schema.json")
def schema() -> None:
    """Print the JSON Schema of spec v1 (for editors: yaml-language-server)."""
    from airspec.model import spec_json_schema_text

    print(spec_json_schema_text(), end="")


@app.command("report-schema", epilog="Example: airspec report-schema > drift-report.schema.json")
def report_schema() -> None:
    """Print the JSON Schema of the drift report (`apply --format json`, airspec.drift/v1)."""
    from airspec.apply.findings import report_json_schema

    print(json.dumps(report_json_schema(), indent=2, sort_keys=True))


@app.command(epilog="Example: airspec explain AS221  (or: airspec explain, for every code)")
def explain(
    code: Annotated[
        str | None, typer.Argument(help="A diagnostic code, e.g. AS203. Omit to list all.")
    ] = None,
) -> None:
    """Explain a diagnostic code, or list every code."""
    from airspec.rules import all_rules

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
