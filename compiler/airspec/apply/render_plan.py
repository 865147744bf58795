"""A saved plan for people: text for a terminal, Markdown for a pull-request comment.

The comment groups actions by spec and cloud; a group that destroys comes first, and in each
group destructive actions come first, marked; so are actions that grant more than is live,
and those that take away a live broadening. Each action carries its step number (the order
`apply plan.json` runs them in). It fits GitHub's comment limit (65,536 characters): when the
whole plan does not, the per-action details (calls, before and after) are folded from the
least important up, then the commands left to the user, then the rows of plain actions, and
the comment says what was folded and where the rest is (the plan file, `airspec apply
plan.json --dry-run`). Every value passes `render.code` / `render.shown`, as in every
other report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from airspec.apply.findings import ErrorInfo, PlanDocument, PlanStep
from airspec.apply.render import code, error_markdown, fenced, shown, shown_value

MARKER = "<!-- airspec-plan -->"  # the comment a workflow updates carries this first line
GITHUB_LIMIT = 65536  # characters in an issue or pull-request comment
CLOUDS = (("iam/", "AWS"), ("s3/", "AWS"), ("eks/", "AWS"), ("gcp-iam/", "GCP"), ("gke/", "GCP"))
LEFT = frozenset({"refused", "claimed", "unreadable", "pending", "manual", "orphaned"})
ATTENTION = frozenset({"claimed", "unreadable"})


def cloud(target: str) -> str:
    return next((name for prefix, name in CLOUDS if target.startswith(prefix)), "Kubernetes")


def _marks(p: PlanStep) -> list[str]:
    marks = []
    if p.destructive:
        marks.append("⛔ destroys")
    if p.grants:
        marks.append("🔓 grants more")
    if p.removes_broadening:
        marks.append("⚠️ removes a live broadening")
    if p.action in ATTENTION:
        marks.append("❗ needs attention")
    elif p.action in LEFT:
        marks.append("left to you")
    return marks


def _rank(p: PlanStep) -> tuple[int, int]:
    """Destructive first, then grants, then broadening removed, then the rest; runnable
    before what is left."""
    if p.destructive:
        kind = 0
    elif p.grants:
        kind = 1
    elif p.removes_broadening:
        kind = 2
    else:
        kind = 3
    return (int(not p.calls), kind)


def _steps(doc: PlanDocument) -> dict[int, int]:
    """Position in doc.actions -> step number (1-based) of the runnable actions."""
    out, n = {}, 0
    for i, p in enumerate(doc.actions):
        if p.calls:
            n += 1
            out[i] = n
    return out


def groups(doc: PlanDocument) -> list[tuple[str, str, list[int]]]:
    """(spec, cloud, positions of its actions), destructive groups first."""
    found: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(doc.actions):
        found.setdefault((p.spec, cloud(p.target)), []).append(i)
    out = []
    for (spec, where), items in found.items():
        items.sort(key=lambda i: (_rank(doc.actions[i]), i))
        out.append((spec, where, items))
    order = {"AWS": 0, "GCP": 1, "Kubernetes": 2}
    out.sort(key=lambda g: (not any(doc.actions[i].destructive for i in g[2]), g[0], order[g[1]]))
    return out


def _counts(doc: PlanDocument) -> str:
    runnable = [p for p in doc.actions if p.calls]
    left = [p for p in doc.actions if p.action in LEFT]
    parts = [f"**{len(runnable)} to apply**", f"{len(left)} left to you"]
    attention = sum(p.action in ATTENTION for p in doc.actions)
    if attention:
        parts.append(f"❗ {attention} need attention")
    for n, what in (
        (sum(p.destructive for p in runnable), "⛔ {} destroy"),
        (sum(bool(p.grants) for p in runnable), "🔓 {} grant more than is live"),
        (sum(p.removes_broadening for p in runnable), "⚠️ {} take away a live broadening"),
    ):
        if n:
            parts.append(what.format(n))
    return " · ".join(parts)


# the options of a plan's request that change what apply may do, and what each allows
WIDENING = (
    ("adopt", "--adopt", "takes over objects no spec owns, or that another spec claims"),
    ("prune", "--prune", "deletes orphans: IAM objects tagged with this spec's owner"),
    ("with_tools", "--with-tools", "runs the runbook's eksctl / helm / gcloud / astro steps"),
)


def request_command(doc: PlanDocument, plan: str) -> str:
    """The command that made the plan, from its request: what apply will decide with."""
    r = doc.request
    argv = ["airspec", "apply", *r.specs, "--out", r.out]
    for t in r.targets or []:
        argv += ["--target", t]
    if r.context:
        argv += ["--context", r.context]
    if r.ignore_file:
        argv += ["--ignore-file", r.ignore_file]
    argv += [flag for field, flag, _ in WIDENING if getattr(r, field)]
    return " ".join([*argv, "--plan-out", plan])


def _options(doc: PlanDocument) -> list[str]:
    """The request's options that change what apply may do, each on a line of its own, or a
    line saying there is none: a plan made with --adopt never passes for one made without."""
    r = doc.request
    given = [(flag, what) for field, flag, what in WIDENING if getattr(r, field)]
    lines = [f"- ⚠️ **made with {code(flag)}**: {what}" for flag, what in given]
    if r.targets:
        lines.append(f"- **only** {', '.join(code(t) for t in r.targets)} read and planned")
    if not lines:
        return ["Options: none that widen what apply may do (no `--adopt`, `--prune` or "
                "`--with-tools`; every target)."]
    return ["**Options that change what apply may do:**", "", *lines]


def _head(doc: PlanDocument, plan: str) -> list[str]:
    trees = ", ".join(
        f"{code(f'{doc.request.out}/{name}')} {code(t.digest[:19])}"
        for name, t in doc.trees.items()
    )
    return [
        MARKER,
        f"### airspec plan: {', '.join(code(s) for s in doc.specs) or 'no spec'}",
        "",
        _counts(doc),
        "",
        # the workflow's apply job reads the digest from this line (the first one like it)
        f"**Plan `{doc.digest}`**",
        "",
        *_options(doc),
        "",
        f"Made {code(doc.created)} by airspec {code(doc.airspec)} from {trees or 'no tree'} "
        f"with {code(request_command(doc, plan))}. Apply exactly this plan, and no other file, "
        f"with {code(f'airspec apply {plan} --yes --expect-digest {doc.digest}')}: it makes "
        "these calls in step order, or refuses (changing nothing) if the file is not this "
        "plan, an `out/` tree or a live object it acts on moved since, or once the plan is "
        "older than `--max-age` (default 4h). The digest pins the file to this comment; it is "
        "not a signature.",
        "",
    ]


CELL = 300  # characters of a value shown in a row of the comment
VALUE = 2000  # characters of a value shown in an action's details


def _cut(text: str, limit: int) -> str:
    """A value for the comment, cut to `limit` characters after it is made safe to show
    (redacted, escaped: a cut never splits a credential out of the redactor's sight), with
    a note of how much was folded. The plan file keeps every value whole."""
    text = shown(text)
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}… [{len(text) - limit:,} more characters folded: the full value is "
        "in the plan file]"
    )


def _row(doc: PlanDocument, i: int, steps: dict[int, int]) -> str:
    p = doc.actions[i]
    step = str(steps[i]) if i in steps else "—"
    marks = "<br>".join(_marks(p)) or " "
    target, summary = _cut(p.target, CELL), _cut(p.summary, CELL)
    return f"| {step} | {marks} | {code(p.action)} | {code(target)} | {code(summary)} |"


_TABLE = ["| step | | action | live object | what |", "|---:|---|---|---|---|"]


def _detail(doc: PlanDocument, i: int, steps: dict[int, int]) -> list[str]:
    p = doc.actions[i]
    step = f"step {steps[i]}: " if i in steps else ""
    title = f"{step}<code>{_html(p.action)}</code> <code>{_html(_cut(p.target, CELL))}</code>"
    lines = [f"<details><summary>{title}</summary>", ""]
    if p.grants:
        lines += ["Grants more than is live:", ""]
        lines += [f"- {code(_cut(g, VALUE))}" for g in p.grants]
        lines.append("")
    changes = [f for f in p.findings if f.path or f.compiled is not None or f.live is not None]
    if changes:
        lines += ["| path | before (live) | after (compiled) |", "|---|---|---|"]
        lines += [
            f"| {code(_cut(f.path or f.message, CELL))} | {code(_cut(shown_value(f.live), VALUE))} "
            f"| {code(_cut(shown_value(f.compiled), VALUE))} |"
            for f in changes
        ]
        lines.append("")
    if p.calls:
        lines += [*fenced([_cut(c.call, VALUE) for c in p.calls]), ""]
    if p.depends:
        lines += ["Decided from: " + ", ".join(code(_cut(d, CELL)) for d in p.depends), ""]
    return [*lines, "</details>", ""]


def _html(text: str) -> str:
    """Text inside an HTML element of the comment (the summary line): escaped."""
    return (
        shown(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "&#124;")
    )


def _size(text: str) -> int:
    return len(text.encode("utf-8"))  # at least the characters GitHub counts


def plan_markdown(doc: PlanDocument, limit: int = GITHUB_LIMIT, plan: str = "plan.json") -> str:
    """The plan as one pull-request comment of at most `limit` characters (`plan`: the plan
    file's path, for the command that applies it). Each value is cut to a bounded length
    (saying so), so each row has a bounded size: rows are folded only when there are too
    many of them, destructive ones last; and each fitting is one render, linear in the
    comment's size, at most log2(actions) + 3 times."""
    steps = _steps(doc)
    grouped = groups(doc)
    order = [i for _, _, items in grouped for i in items]
    important = sorted(order, key=lambda i: (_rank(doc.actions[i]), i))
    commands = [c for p in doc.actions for c in p.commands]
    # each row and each action's details rendered once: a fitting only joins them
    row_of = {i: _row(doc, i, steps) for i in order}
    detail_of = {i: _detail(doc, i, steps) for i in order}

    def render(rows: int, details: int, with_commands: bool) -> str:
        shown_rows = set(important[:rows])
        lines = _head(doc, plan)
        for spec, where, items in grouped:
            kept = [i for i in items if i in shown_rows]
            if not kept:
                continue
            lines += [f"#### {code(spec)} · {where}", "", *_TABLE]
            lines += [row_of[i] for i in kept]
            lines.append("")
        if not doc.actions:
            lines += ["Nothing to do: live state matches the compiled artifacts.", ""]
        if commands and with_commands:
            lines += ["**Left to you:**", "", *fenced([_cut(c, VALUE) for c in commands], "sh"), ""]
        for i in important[:details]:
            lines += detail_of[i]
        folded = []
        if rows < len(order):
            rest = [doc.actions[i] for i in important[rows:]]
            kinds = [
                f"{k} {what}"
                for k, what in (
                    (sum(p.destructive for p in rest), "destructive"),
                    (sum(bool(p.grants) for p in rest), "granting more"),
                )
                if k
            ]
            folded.append(
                f"{len(rest)} more action(s)" + (f" ({', '.join(kinds)})" if kinds else "")
            )
        if details < len(order):
            folded.append(f"the calls and before/after values of {len(order) - details} action(s)")
        if commands and not with_commands:
            folded.append(f"{len(commands)} command(s) left to you")
        if folded:
            lines += [
                f"_Folded to stay within GitHub's {GITHUB_LIMIT:,}-character comment limit: "
                + "; ".join(folded)
                + ". The plan file holds everything; `airspec apply plan.json --dry-run` "
                "prints it._",
                "",
            ]
        if doc.in_sync:
            lines += [f"{len(doc.in_sync)} live object(s) read and in sync.", ""]
        return "\n".join(lines).rstrip("\n") + "\n"

    n = len(order)
    full = render(n, n, True)
    if _size(full) <= limit:
        return full
    # the most details that fit, then (if none fit) without the commands, then fewer rows
    details = _most(lambda k: _size(render(n, k, True)) <= limit, n)
    if details is not None:
        return render(n, details, True)
    if _size(render(n, 0, False)) <= limit:
        return render(n, 0, False)
    rows = _most(lambda k: _size(render(k, 0, False)) <= limit, n)
    return render(rows or 0, 0, False)


def _most(fits: Callable[[int], bool], n: int) -> int | None:
    """The largest k in 0..n with fits(k) (fits is monotone), or None when none fits."""
    if not fits(0):
        return None
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def plan_error_markdown(error: ErrorInfo, specs: Sequence[str] = ()) -> str:
    """The comment when no plan could be made (a spec error, a stale out/, wrong
    credentials): the same marker, so the workflow updates the same comment."""
    lines = [MARKER, f"### airspec plan: {', '.join(code(s) for s in specs) or 'no plan'}", ""]
    lines += error_markdown(error)
    return "\n".join(lines).rstrip("\n") + "\n"


def plan_text(doc: PlanDocument) -> str:
    """The plan for a terminal: each action in step order with its marks, calls and
    before/after values; then what is left to the user."""
    steps = _steps(doc)
    lines = []
    for i, p in enumerate(doc.actions):
        step = f"{steps[i]:>3}." if i in steps else "   -"
        marks = "".join(f"  [{m.split(' ', 1)[1]}]" for m in _marks(p) if m != "left to you")
        lines.append(shown(f"{step} {p.action:<10} {p.spec}: {p.summary}  [{p.target}]") + marks)
        for g in p.grants:
            lines.append("       grants: " + shown(g))
        for f in p.findings:
            if f.path or f.compiled is not None or f.live is not None:
                lines.append(
                    f"       {shown(f.path or f.message)}: {shown_value(f.live)} -> {shown_value(f.compiled)}"
                )
        lines += ["       call: " + shown(c.call) for c in p.calls]
        lines += ["       run:  " + shown(c) for c in p.commands]
    runnable = sum(bool(p.calls) for p in doc.actions)
    left = sum(p.action in LEFT for p in doc.actions)
    lines.append(
        f"plan {doc.digest[:19]}: {runnable} to apply, {left} left to you, "
        f"{len(doc.in_sync)} in sync; made {doc.created} by airspec {doc.airspec}"
    )
    return "\n".join(lines) + "\n"
