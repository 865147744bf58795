"""The `airspec` command line: its commands and options (typer). The console entry point is
airspec.launch, then airspec.cli, which runs a plain `compile` without importing typer
(airspec.compile_command)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from airspec import __version__
from airspec.compile_command import DiagFormat, _print_diagnostics, _say, _summary, run_compile
from airspec.diagnostics import Diagnostic, has_errors
from airspec.exits import Exit, exit_code


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
            _usage_document(list(sys.argv[1:] if args is None else args), exc)
            code = Exit.ERROR
        except typer.Abort:
            _say("airspec: aborted")
            code = Exit.ERROR
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _usage_document(args: list[str], exc: Exception) -> None:
    """`apply --format json|markdown` promises one document on stdout on every exit path, a
    usage error (an unknown option) included."""
    if "apply" not in args:
        return
    fmt = None
    for i, arg in enumerate(args):
        if arg in ("-f", "--format") and i + 1 < len(args):
            fmt = args[i + 1]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg.startswith("-f") and len(arg) > 2:
            fmt = arg[2:]
    if fmt not in ("json", "markdown"):
        return
    from airspec.apply.findings import ErrorInfo
    from airspec.apply.render import (
        apply_document,
        apply_json,
        apply_markdown,
        error_report,
        to_json,
        to_markdown,
    )

    message = getattr(exc, "format_message", lambda: str(exc))()
    error = ErrorInfo(kind="usage", message=str(message))
    if "--dry-run" in args:
        report = error_report(error)
        print(to_json(report) if fmt == "json" else to_markdown(report), end="\n" if fmt == "json" else "")
    else:
        doc = apply_document([], error=error)
        print(apply_json(doc) if fmt == "json" else apply_markdown(doc), end="\n" if fmt == "json" else "")


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
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="The compiled trees' folder, <out>/<name>/ per spec (default: out/ at the root "
        "of the git work tree holding the specs).",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    DiagFormat,
    typer.Option(
        "--format", "-f", help="How to print diagnostics: text, github (Actions annotations), json."
    ),
]


def _completer(choices: Callable[[], Sequence[str]]) -> Callable[[str], list[str]]:
    """A shell-completion callback offering the `choices` that start with what was typed."""

    def complete(incomplete: str) -> list[str]:
        return [c for c in choices() if c.lower().startswith(incomplete.lower())]

    return complete


def _platforms() -> Sequence[str]:
    from airspec.starter import PLATFORMS

    return PLATFORMS


def _clouds() -> Sequence[str]:
    from airspec.starter import CLOUDS

    return CLOUDS


def _identities() -> Sequence[str]:
    from airspec.starter import IDENTITIES

    return IDENTITIES


def _targets() -> Sequence[str]:
    from airspec.artifact import Service

    return [str(s) for s in Service]


def _codes() -> Sequence[str]:
    from airspec.rules import all_rules

    return list(all_rules())


def _specs(paths: list[Path]) -> list[Path]:
    """The spec files named on the command line, folders expanded."""
    from airspec.spec_paths import NoSpecs, expand_specs

    try:
        return expand_specs(paths)
    except NoSpecs as exc:
        _say(f"airspec: {exc}")
        raise typer.Exit(exit_code(error=True)) from None


def _out(out: Path | None, specs: list[Path]) -> Path:
    """--out as given, else the project's out/ (the git work tree holding the specs)."""
    from airspec.repo import out_folder

    return out_folder(out, specs)


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
    out: OutOpt = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 2 and name the stale files if out/ is not up to date.",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option("--diff", help="With --check: print a unified diff of each stale file."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Compile every spec, even where out/<name>/manifest.json shows nothing changed.",
        ),
    ] = False,
    fmt: FormatOpt = DiagFormat.text,
    verbose: VerboseOpt = False,
) -> None:
    """Validate specs and lower them into reviewable artifacts under out/<name>/.

    Nothing is written unless every spec compiles; each out/<name>/ is replaced atomically,
    and a file it removes from out/<name>/ (no longer generated, or added by hand) is named.
    The default out/ is the one at the root of the git work tree holding the specs, wherever
    the command runs. A spec whose tree's manifest records the same inputs (spec, lock and
    constraints files, airspec's version and code) and whose files are as written is not
    compiled again.
    """
    code = run_compile(specs, out, check=check, diff=diff, force=force, fmt=fmt, verbose=verbose)
    if code:
        raise typer.Exit(code)


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


class _TerminalUi:
    """The session's Ui: stdout for the document, stderr for people, a prompt and a progress
    bar only where there is a terminal."""

    def out(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def err(self, line: str) -> None:
        _say(line)

    def confirm(self, question: str) -> bool | None:
        if not sys.stdin.isatty():
            return None
        return bool(typer.confirm(question, default=False, err=True))

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        if not sys.stderr.isatty() or total == 0:
            yield lambda _what: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn(label, markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}", markup=False),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("", total=total)
            yield lambda what: bar.update(task, advance=1, description=what)


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
            "--format",
            "-f",
            help="text (terminal), json (one document: airspec.drift/v1, or airspec.apply/v1 "
            "when applying; errors included), markdown (a job summary or PR comment).",
        ),
    ] = ReportFormat.text,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="Only read these services (repeatable): iam, eks, s3, kubernetes, helm, gke, gcp-iam.",
            autocompletion=_completer(_targets),
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
    out: OutOpt = None,
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
            help="Take over existing objects this spec does not own (not made by airspec, or "
            "claimed by another spec): record this spec's owner on them, then update them.",
        ),
    ] = False,
    with_tools: Annotated[
        bool,
        typer.Option(
            "--with-tools",
            help="Run the runbook's eksctl / helm / gcloud / astro steps when the binary is on PATH "
            "(never a create against something that exists).",
        ),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete orphans: IAM objects tagged with this spec's owner identity that it no "
            "longer names, when nothing else holds them.",
        ),
    ] = False,
    plan_out: Annotated[
        Path | None,
        typer.Option(
            "--plan-out",
            help="Write the plan to this file and change nothing: every action with its calls, "
            "before and after values, the out/ trees' digests and the version of every live "
            "object read. Apply it with: airspec apply PLAN.json --yes.",
        ),
    ] = None,
    max_age: Annotated[
        str,
        typer.Option(
            "--max-age",
            help="With a plan file: refuse a plan older than this (90s, 30m, 4h, 1d).",
        ),
    ] = "4h",
    expect_digest: Annotated[
        str | None,
        typer.Option(
            "--expect-digest",
            help="With a plan file: apply it only if its digest is this one (sha256:…, as the "
            "reviewed plan comment prints it); any other file, or an edited one, is refused.",
        ),
    ] = None,
) -> None:
    """Make live AWS, Kubernetes and GCP state match the compiled artifacts (--dry-run: only report drift).

    Reads only the objects the compiled artifacts name (IAM policies, roles, OIDC provider, EKS cluster and node groups, buckets, namespace, ConfigMaps, service accounts, the Helm release's values, GKE cluster, GCP IAM policies), with the standard credentials of each API. Live values pass one redactor before any output: credentials never reach a report.

    Without --dry-run: the drift becomes a plan (create, update, adopt; refused, claimed, manual, pending and unreadable objects listed), shown and confirmed (--yes to skip), then run in dependency order, stopping at the first failure or Ctrl-C; every call made is listed, a failed action's included. Converged: IAM (OIDC provider, policy, role, attachments, log-reader role), owned S3 buckets, EKS Pod Identity (add-on, associations), Kubernetes (k8s/ manifests by server-side apply as field manager airspec; service accounts' identity annotation), GCP (the service account; IAM policies by read-modify-write with the etag, changing only the bindings this spec wrote). Cluster and Helm steps are pending: printed, or run with --with-tools.

    Saved plans: --plan-out plan.json writes the plan and changes nothing. `airspec apply plan.json --dry-run` checks it and prints it. `airspec apply plan.json --yes --expect-digest sha256:…` (the digest the reviewed plan comment prints: any other file, or an edited one, is refused) compiles, reads and plans again with the plan's own specs and options, and makes exactly its calls in order; it refuses (exit 1, nothing changed, naming what moved) when an out/ tree differs from the plan's digests, a live object a planned action acts on has another version, the actions differ, the plan is older than --max-age, or it was made by another airspec.

    Ownership: what apply creates records this spec's owner identity (the spec's git repository and metadata.name: tags airspec.io/owner and airspec.io/spec; Kubernetes: annotations of those names; a Google service account: its description). An object recorded for another owner is claimed: never changed or pruned (exit 1). An object with no owner recorded is changed only with --adopt. Orphans tagged with this spec's owner are listed; --prune deletes them. Buckets are never deleted; the cluster's OIDC provider is shared and never loses an audience.

    Exit 0 in sync, 1 error (unreadable, claimed, failed, refused to start), 2 out/ stale, 3 drift found (dry run) or steps left to you (apply), 4 stale and drift (dry run), 130 interrupted.
    """
    from airspec.apply.actions import Options
    from airspec.apply.planfile import DIGEST, parse_age
    from airspec.apply.session import Format, Request, run

    plan_file = _plan_file(specs)
    if plan_file is not None:
        given = [
            name
            for name, value, default in (
                ("--target", target, None),
                ("--fail-on", fail_on, "broadening,missing,drift"),
                ("--out", out, None),
                ("--context", context, None),
                ("--ignore-file", ignore_file, None),
                ("--adopt", adopt, False),
                ("--with-tools", with_tools, False),
                ("--prune", prune, False),
                ("--plan-out", plan_out, None),
            )
            if value != default
        ]
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)}: a plan file records the specs and options it was made "
                f"with; apply {plan_file} as it is, or make a new plan"
            )
    elif expect_digest is not None:
        raise typer.BadParameter(
            "--expect-digest pins a saved plan: give the plan file (airspec apply PLAN.json "
            "--yes --expect-digest sha256:…)"
        )
    elif plan_out is not None and (dry_run or yes):
        raise typer.BadParameter(
            "--plan-out writes a plan and changes nothing: drop --dry-run and --yes"
        )
    if expect_digest is not None and not DIGEST.fullmatch(expect_digest):
        raise typer.BadParameter(
            f"'{expect_digest}' is not a plan digest: sha256: and 64 hex digits, as the plan "
            "comment prints it",
            param_hint="--expect-digest",
        )
    try:
        age = parse_age(max_age)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--max-age") from None
    request = Request(
        specs=specs,
        out=_out(out, specs),
        targets=target,
        kube_context=context,
        ignore_file=ignore_file,
        concurrency=concurrency,
        fmt=Format(report_format.value),
        dry_run=dry_run,
        options=Options(adopt=adopt, with_tools=with_tools, prune=prune),
        yes=yes,
        fail_on=frozenset(_fail_on(fail_on)),
        plan_out=plan_out,
        plan_file=plan_file,
        max_age=age,
        expect_digest=expect_digest,
    )
    raise typer.Exit(run(request, _TerminalUi()))


def _plan_file(paths: list[Path]) -> Path | None:
    """A saved plan given in place of the specs: one argument naming a .json file."""
    plans = [p for p in paths if p.suffix == ".json"]
    if not plans:
        return None
    if len(paths) > 1:
        raise typer.BadParameter(
            f"{plans[0]} looks like a plan file (.json): apply a plan alone, without specs"
        )
    return plans[0]


@app.command(
    epilog="Example: airspec review origin/main --format markdown > review.md  (a PR comment)"
)
def review(
    base: Annotated[
        str | None,
        typer.Argument(
            help="A git revision (default: the merge base with the default branch).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The compiled trees' folder (default: out/ at the root of the git work tree "
            "holding the working directory).",
            show_default=False,
        ),
    ] = None,
    report_format: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="text, json (airspec.review/v1), markdown (a PR comment)."),
    ] = ReportFormat.text,
    fail_on_broadening: Annotated[
        bool, typer.Option("--fail-on-broadening", help="Exit 3 when the change grants more.")
    ] = False,
) -> None:
    """Say what a change grants: the compiled trees at BASE against the working tree, by meaning.

    Per spec and identity (IAM role, Google service account, GCP member): grants added and
    removed, and who may now assume the identity, broadening first. IAM statements are
    compared as IAM evaluates them (the engine of 'apply --dry-run'), so reordering or
    reformatting is no change and s3:GetObject -> s3:* is one wider grant. A broadening that
    out/ holds but its spec does not compile to is called out as a hand edit.

    Exit 0, 1 on error (no git, an unknown revision), 3 with --fail-on-broadening when
    something is broadened.
    """
    from airspec.repo import git_work_tree
    from airspec.review import ReviewError, to_json, to_markdown, to_text
    from airspec.review import review as review_out

    root = git_work_tree(out if out is not None else Path.cwd())
    if root is None:
        _say("airspec: review compares git revisions: run it inside a git work tree")
        raise typer.Exit(exit_code(error=True))
    try:
        result = review_out(root, out if out is not None else root / "out", base)
    except ReviewError as exc:
        _say(f"airspec: {exc}")
        raise typer.Exit(exit_code(error=True)) from None
    render = {
        ReportFormat.text: to_text,
        ReportFormat.json: to_json,
        ReportFormat.markdown: to_markdown,
    }[report_format]
    print(render(result), end="")
    _say(
        f"airspec: {len(result.broadening)} broadening, {len(result.narrowing)} narrowing "
        f"in {len(result.trees)} tree(s)"
    )
    raise typer.Exit(exit_code(drift=fail_on_broadening and bool(result.broadening)))


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
    epilog="Example: airspec init specs/orders.airspec.yaml --existing-cluster --identity irsa "
    "--oidc-issuer https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE0123 "
    "--dags-repo https://github.com/acme/dags"
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
            autocompletion=_completer(_platforms),
        ),
    ] = "astro-remote-execution",
    cloud: Annotated[
        str,
        typer.Option(
            "--cloud", "-c", help="aws (EKS) or gcp (GKE).", autocompletion=_completer(_clouds)
        ),
    ] = "aws",
    name: Annotated[
        str | None, typer.Option("--name", help="metadata.name (default: from the file name).")
    ] = None,
    existing_cluster: Annotated[
        bool,
        typer.Option(
            "--existing-cluster",
            help="The cluster exists and is managed elsewhere: no node groups or pools; its "
            "prerequisites are checked instead.",
        ),
    ] = False,
    identity: Annotated[
        str | None,
        typer.Option(
            "--identity",
            help="AWS: how pods get the role, irsa or pod-identity (default pod-identity; irsa "
            "with --oidc-issuer).",
            autocompletion=_completer(_identities),
        ),
    ] = None,
    oidc_issuer: Annotated[
        str | None,
        typer.Option(
            "--oidc-issuer",
            help="IRSA: the cluster's issuer, from 'aws eks describe-cluster --name CLUSTER "
            "--query cluster.identity.oidc.issuer --output text'; sets the region.",
        ),
    ] = None,
    dags_repo: Annotated[
        str | None,
        typer.Option("--dags-repo", help="https URL of the git repository holding the DAGs."),
    ] = None,
    chart_version: Annotated[
        str | None,
        typer.Option(
            "--chart-version",
            help="The agents' Helm chart version (default: the version airspec is tested with).",
        ),
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="AWS or GCP region (default: us-east-1 / us-central1).")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="The cluster's name (default: airflow).")
    ] = None,
) -> None:
    """Write a commented starter spec that validates as written; never overwrites a file.

    With --existing-cluster (and, for IRSA, --oidc-issuer) the spec compiles to a complete
    runbook without live access. Also writes the JSON Schema the spec's modeline names
    (schemas/airspec.schema.json in the project) when it is missing, so editors complete and
    check the fields.
    """
    import os

    from airspec.frontend import check_spec
    from airspec.starter import Choices, StarterError, write_starter

    choices = Choices(
        existing_cluster=existing_cluster,
        identity=identity,
        oidc_issuer=oidc_issuer,
        dags_repo=dags_repo,
        chart_version=chart_version,
        region=region,
        cluster=cluster,
    )
    try:
        written = write_starter(path, platform, cloud, name, choices)
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


class SchemaKind(StrEnum):
    drift = "drift"
    apply = "apply"
    plan = "plan"


@app.command(
    "report-schema",
    epilog="Example: airspec report-schema > schemas/drift-report.schema.json",
)
def report_schema(
    kind: Annotated[
        SchemaKind,
        typer.Option(
            "--kind",
            help="drift: `apply --dry-run --format json` (airspec.drift/v1); apply: `apply "
            "--format json` (airspec.apply/v1); plan: the file `apply --plan-out` writes "
            "(airspec.plan/v1).",
        ),
    ] = SchemaKind.drift,
) -> None:
    """Print the JSON Schema of apply's JSON output: the drift report, apply's result, or a saved plan."""
    from airspec.apply.findings import apply_json_schema, plan_json_schema, report_json_schema

    schema = {
        SchemaKind.drift: report_json_schema,
        SchemaKind.apply: apply_json_schema,
        SchemaKind.plan: plan_json_schema,
    }[kind]()
    print(json.dumps(schema, indent=2, sort_keys=True))


@app.command(epilog="Example: airspec explain AS221  (or: airspec explain, for every code)")
def explain(
    code: Annotated[
        str | None,
        typer.Argument(
            help="A diagnostic code, e.g. AS203. Omit to list all.",
            autocompletion=_completer(_codes),
        ),
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


def _one_line_paragraphs(app: typer.Typer) -> None:
    """Each paragraph of a command's help as one line: typer keeps the single line breaks of a
    docstring's later paragraphs and rich wraps them again, which leaves ragged help in a
    terminal narrower than the source (80 columns). A paragraph starting with \\b keeps its
    lines, as click's convention has it."""
    import inspect

    for info in app.registered_commands:
        doc = info.help or inspect.getdoc(info.callback) or ""
        paragraphs = doc.split("\n\n")
        info.help = "\n\n".join(
            p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
            for p in paragraphs
        )


_one_line_paragraphs(app)


def main() -> None:
    """Console entry point: no traceback reaches the user."""
    try:
        app()
    except KeyboardInterrupt:
        _say("airspec: interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
