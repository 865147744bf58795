"""Saved plans: `apply --plan-out plan.json` writes one, `apply plan.json` checks it.

A plan file is a statement of what apply will do and of everything that was decided from:
the compiled trees (a digest per file of out/<name>/), the live version of every object read
(`seen`), and each action with its calls (arguments redacted, and a digest of everything the
call sends). It is not a program: `apply plan.json` compiles, reads and decides again with
the plan's own request, and makes the calls only when nothing moved - the trees, every object
a planned action acts on or was decided from, the actions and their call digests.

What the plan's own digest protects against, and what it does not. The digest is a plain
sha256 of the document: anyone can recompute it after an edit, so on its own it catches
accidents (a truncated or hand-mangled file), not an adversary. The request fields (specs,
out, targets, --adopt, --prune, --with-tools...) come from the file, and a plan made with
--adopt from the same commit decides - and then applies - other actions than the reviewed
one. What ties the applied file to the reviewed one is `apply plan.json --expect-digest
sha256:...`, with the digest copied from the reviewed comment (which prints it in full, with
the options that change what apply may do): any other file, or an edited one, is refused
before anything is read. It is not a signature: whoever can edit both the reviewed comment
and the plan artifact can make apply do anything the apply role allows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airspec import __version__
from airspec.apply.actions import Action, Verb
from airspec.apply.calls import Call
from airspec.apply.compare import diff
from airspec.apply.findings import (
    PLAN_VERSION,
    Moved,
    PlanCall,
    PlanDocument,
    PlanRequest,
    PlanStep,
    ReadVersion,
    Status,
    Tree,
)
from airspec.apply.redact import redact, redact_text
from airspec.apply.seen import Seen
from airspec.emit import existing_files

MAX_AGE = 4 * 3600.0  # seconds: the default --max-age of a plan
# kinds of objects whose content is a grant: creating one grants all it holds
GRANTING = (
    "iam/policy",
    "iam/role",
    "iam/role-policy",
    "iam/oidc-provider",
    "eks/pod-identity-associations",
    "gcp-iam/",
    "kubernetes/serviceaccount",
)


# what `apply plan.json` reads again on AWS (every reader in live/readers.py, and the orphan
# scan): a plan job's role needs these and nothing else
AWS_READS = (
    "iam:Get*",
    "iam:List*",
    "eks:Describe*",
    "eks:List*",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketTagging",
)
SESSION_POLICY_LIMIT = 2048  # characters of an inline session policy (STS AssumeRole)


class PlanError(Exception):
    """The plan file cannot be read, or it cannot be applied (expired, another airspec)."""


# --- trees ------------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(files: dict[str, bytes]) -> Tree:
    """The digest of an out/<name>/ tree: each file's sha256 and path, in path order (the
    lines `sha256sum` prints), hashed."""
    shas = {path: _sha(data) for path, data in sorted(files.items())}
    listing = "".join(f"{sha}  {path}\n" for path, sha in shas.items())
    return Tree(digest="sha256:" + _sha(listing.encode()), files=shas)


def trees_on_disk(out: Path, names: Sequence[str]) -> dict[str, Tree]:
    return {name: tree(existing_files(out / name)) for name in sorted(names)}


# --- writing ----------------------------------------------------------------------------------


def _plan_call(c: Call) -> PlanCall:
    return PlanCall(
        call=redact_text(c.shown),
        op=f"{c.api}:{c.op}",
        args=redact(dict(c.args)),
        destructive=c.destructive,
        digest=c.digest,
    )


def grants(a: Action, seen: Seen) -> list[str]:
    """What the action grants beyond what is live: for a new object of a granting kind, all
    of it; for a change, each difference the object's broadening rule reads as a grant when
    the compiled form is taken for the live one."""
    if not a.runnable or a.verb is Verb.DELETE:
        return []
    if not a.target.startswith(GRANTING) and not a.target.endswith("#attached-policies"):
        return []
    if a.verb is Verb.CREATE or any(f.status is Status.MISSING for f in a.findings):
        return ["all it holds: the object is new"]
    form = seen.forms.get((a.spec, a.target))
    if form is None:
        return []
    check, live_form = form
    if check.broadening is None:
        return []
    wider = diff(
        a.spec,
        check.artifact,
        a.target,
        live_form,
        check.compiled,
        broadening=check.broadening,
        secret_env=check.secret_env,
        unordered=check.unordered,
    )
    return [f"{f.path or 'all'}: {_text(f.live)}" for f in wider if f.status is Status.BROADENING]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def step(a: Action, seen: Seen) -> PlanStep:
    return PlanStep(
        spec=a.spec,
        target=a.target,
        action=str(a.verb),
        summary=redact_text(a.summary),
        destructive=a.destructive,
        removes_broadening=a.runnable and any(f.status is Status.BROADENING for f in a.findings),
        grants=[redact_text(g) for g in grants(a, seen)],
        findings=a.findings,
        commands=[redact_text(c) for c in a.commands],
        calls=[_plan_call(c) for c in a.calls],
        depends=list(a.depends),
        shared_by=list(a.shared_by),
        needs=[list(n) for n in sorted(set(a.needs))],
    )


def session_policy(actions: Sequence[Action]) -> dict[str, Any]:
    """The IAM policy that allows what applying these actions does on AWS and nothing else:
    the reads, and each planned call's IAM actions on its resource. Passed as the inline
    session policy of the apply job's role, the role can then write only what the plan
    needs."""
    by_actions: dict[tuple[str, ...], set[str]] = {}
    per_resource: dict[str, set[str]] = {}
    for a in actions:
        for action, resource in a.needs:
            per_resource.setdefault(resource, set()).add(action)
    for resource, wanted in per_resource.items():
        by_actions.setdefault(tuple(sorted(wanted)), set()).add(resource)
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadWhatApplyReads", "Effect": "Allow", "Action": list(AWS_READS), "Resource": "*"}
    ]
    for i, (allowed, resources) in enumerate(sorted(by_actions.items())):
        statements.append(
            {
                "Sid": f"Planned{i + 1}",
                "Effect": "Allow",
                "Action": list(allowed),
                "Resource": sorted(resources),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def packed(policy: dict[str, Any]) -> str:
    return json.dumps(policy, separators=(",", ":"))


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def build(
    request: PlanRequest,
    *,
    specs: Sequence[str],
    owners: dict[str, str],
    trees: dict[str, Tree],
    seen: Seen,
    actions: Sequence[Action],
    in_sync: Sequence[str],
    aws: bool = False,
    created: dt.datetime | None = None,
) -> PlanDocument:
    """The plan document (`aws`: some spec is on AWS, so the plan names an AWS session
    policy)."""
    reads = [
        ReadVersion(spec=spec, target=target, version=dict(sorted(version.items())))
        for (spec, target), version in sorted(seen.versions.items())
    ]
    doc = PlanDocument(
        airspec=__version__,
        created=(created or now_utc()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        request=request,
        specs=sorted(specs),
        owners=dict(sorted(owners.items())),
        trees=trees,
        reads=reads,
        actions=[step(a, seen) for a in actions],
        in_sync=sorted(in_sync),
        aws_session_policy=session_policy(actions) if aws else None,
    )
    return doc.model_copy(update={"digest": _digest(doc)})


def _digest(doc: PlanDocument) -> str:
    data = doc.model_dump(mode="json")
    data.pop("digest", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + _sha(text.encode())


def dumps(doc: PlanDocument) -> str:
    return json.dumps(doc.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def check_target(path: Path, specs: Sequence[Path], out: Path) -> None:
    """Refuse a --plan-out path that would overwrite an input of the run: one of the specs,
    anything under the out/ folder, or an existing file that is not an airspec plan (a
    lock file, a constraints file, the ignore file...). Raises PlanError; nothing is
    written."""
    target = path.resolve()
    for spec in specs:
        if spec.resolve() == target:
            raise PlanError(
                f"{path} is one of the specs this plan is made from: the plan would replace "
                "it; write the plan elsewhere (e.g. --plan-out plan.json)"
            )
    root = out.resolve()
    if target == root or target.is_relative_to(root):
        raise PlanError(
            f"{path} is under {out}/, the compiled tree this plan is made from (and checks): "
            "write the plan outside it"
        )
    if target.is_dir():
        raise PlanError(f"{path} is a folder: name the plan file (e.g. {path}/plan.json)")
    if target.exists() and not _is_plan(target):
        raise PlanError(
            f"{path} exists and is not an airspec plan: refusing to overwrite it; remove it "
            "or write the plan elsewhere"
        )


def _is_plan(path: Path) -> bool:
    """Whether an existing file is a plan airspec wrote (any version): only those are
    overwritten."""
    try:
        if path.stat().st_size > MAX_PLAN_BYTES:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("version", "")).startswith("airspec.plan/")


def write(path: Path, doc: PlanDocument) -> None:
    """Write the plan atomically: a file beside it, renamed over it, so a failure never
    leaves half a plan. Raises PlanError."""
    try:
        folder = path.parent if str(path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(dumps(doc))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PlanError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None


# --- reading ----------------------------------------------------------------------------------

MAX_PLAN_BYTES = 64 * 1024 * 1024


def load(path: Path) -> PlanDocument:
    """Read a plan file. Raises PlanError: unreadable, not a plan, another plan format or
    airspec version, or edited after it was written."""
    from pydantic import ValidationError

    try:
        if not path.is_file():
            raise PlanError(f"{path} is not a file")
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise PlanError(f"{path} is larger than a plan can be ({MAX_PLAN_BYTES} bytes)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read the plan {path}: {exc}") from None
    except ValueError as exc:
        raise PlanError(f"{path} is not an airspec plan (not JSON: {exc})") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith("airspec.plan/"):
        raise PlanError(
            f'{path} is not an airspec plan (no "version": "{PLAN_VERSION}"); make one with '
            "'airspec apply SPECS --plan-out plan.json'"
        )
    if data["version"] != PLAN_VERSION:
        raise PlanError(
            f"{path} is a plan of format {data['version']}; this airspec ({__version__}) reads "
            f"{PLAN_VERSION}: make the plan again with this airspec"
        )
    if data.get("airspec") != __version__:
        raise PlanError(
            f"{path} was made by airspec {data.get('airspec')}; this is airspec {__version__}, "
            "which may decide differently: make the plan again with this airspec, or apply it "
            f"with airspec {data.get('airspec')}"
        )
    try:
        doc = PlanDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanError(f"{path} is not a valid plan: {where}: {first['msg']}") from None
    if doc.digest != _digest(doc):
        raise PlanError(
            f"{path} was changed after airspec wrote it (its digest does not match): make the "
            "plan again"
        )
    return doc


DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_digest(doc: PlanDocument, expected: str) -> None:
    """`--expect-digest`: the plan must be the one reviewed (the digest the reviewed comment
    prints). Raises PlanError. This catches a swapped or edited file; see the module
    docstring for what it cannot catch."""
    if doc.digest != expected:
        raise PlanError(
            f"this is not the reviewed plan: its digest is {doc.digest}, and "
            f"--expect-digest is {expected}; apply the plan the review showed, or make and "
            "review a new one"
        )


def created_at(doc: PlanDocument) -> dt.datetime:
    return dt.datetime.strptime(doc.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def check_age(doc: PlanDocument, max_age: float, now: dt.datetime | None = None) -> None:
    """Raises PlanError when the plan is older than `max_age` seconds (or from the future)."""
    now = now or dt.datetime.now(dt.UTC)
    age = (now - created_at(doc)).total_seconds()
    if age > max_age:
        raise PlanError(
            f"the plan expired: it was made at {doc.created}, {_duration(age)} ago, and "
            f"--max-age is {_duration(max_age)}; live state may have moved since: make a new plan"
        )
    if age < -300:
        raise PlanError(f"the plan was made at {doc.created}, in the future: check the clock")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """`90s`, `30m`, `4h`, `1d`, or a number of seconds. Raises ValueError."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise ValueError(f"'{text}' is not a duration (like 90s, 30m, 4h, 1d)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


# --- what moved -------------------------------------------------------------------------------


def _shown_version(version: dict[str, str] | None) -> str:
    if not version:
        return "not read"
    return ", ".join(f"{k} {v}" for k, v in sorted(version.items()))


def moved_trees(doc: PlanDocument, now: dict[str, Tree], out: str) -> list[Moved]:
    moved = []
    for name in sorted(set(doc.trees) | set(now)):
        planned, current = doc.trees.get(name), now.get(name)
        if planned is None or current is None:
            moved.append(
                Moved(
                    what=f"{out}/{name}/",
                    planned="planned from" if planned else "not in the plan",
                    now="present" if current else "no spec compiles to it now",
                )
            )
            continue
        if planned.digest == current.digest:
            continue
        for path in sorted(set(planned.files) | set(current.files)):
            a, b = planned.files.get(path), current.files.get(path)
            if a != b:
                moved.append(
                    Moved(
                        what=f"{out}/{name}/{path}",
                        planned=f"sha256 {a}" if a else "absent",
                        now=f"sha256 {b}" if b else "absent",
                    )
                )
    return moved


def _key(a: Action | PlanStep) -> tuple[str, str, str, tuple[str, ...]]:
    calls = a.calls
    digests = tuple(c.digest for c in calls)
    verb = a.action if isinstance(a, PlanStep) else str(a.verb)
    return (a.spec, a.target, verb, digests)


def moved_live(doc: PlanDocument, seen: Seen, actions: Sequence[Action]) -> list[Moved]:
    """Objects a planned action acts on or was decided from whose version differs now; then
    runnable actions that differ (another verb, other calls, gone, or new)."""
    planned_reads = {(r.spec, r.target): r.version for r in doc.reads}
    touched: list[tuple[str, str]] = []
    for p in doc.actions:
        if not p.calls:
            continue
        for target in [p.target, *p.depends]:
            for spec in [p.spec, *p.shared_by]:
                key = (spec, target)
                if key in planned_reads and key not in touched:
                    touched.append(key)
    moved = []
    for key in touched:
        before, after = planned_reads[key], seen.versions.get(key)
        if before != after:
            parts = sorted(
                k for k in set(before) | set(after or {}) if before.get(k) != (after or {}).get(k)
            )
            moved.append(
                Moved(
                    what=f"{key[1]} ({key[0]})" + (f": {', '.join(parts)}" if parts else ""),
                    planned=_shown_version({k: before[k] for k in parts if k in before} or before),
                    now=_shown_version(
                        {k: (after or {})[k] for k in parts if k in (after or {})} or after
                    ),
                )
            )
    planned = [p for p in doc.actions if p.calls]
    current = [a for a in actions if a.runnable]
    if [_key(p) for p in planned] != [_key(a) for a in current]:
        now_by = {(a.spec, a.target): a for a in current}
        plan_by = {(p.spec, p.target): p for p in planned}
        for p in planned:
            a = now_by.get((p.spec, p.target))
            if a is None or _key(a) != _key(p):
                what = f"planned: {p.action} {p.target} ({p.summary})"
                now = "nothing to do" if a is None else f"{a.verb} ({redact_text(a.summary)})"
                if a is not None and _key(a)[:3] == _key(p)[:3]:
                    now += ", with other calls"
                moved.append(Moved(what=what, planned=p.action, now=now))
        for a in current:
            if (a.spec, a.target) not in plan_by:
                what = f"not in the plan: {a.verb} {a.target} ({redact_text(a.summary)})"
                moved.append(Moved(what=what, planned="nothing to do", now=str(a.verb)))
        if not moved:  # the same actions in another order
            moved.append(
                Moved(what="the order of the actions", planned="as planned", now="differs")
            )
    return moved


def moved_owners(doc: PlanDocument, owners: dict[str, str]) -> list[Moved]:
    return [
        Moved(
            what=f"the owner identity of {name}",
            planned=doc.owners.get(name, "none"),
            now=owners.get(name, "none"),
        )
        for name in sorted(set(doc.owners) | set(owners))
        if doc.owners.get(name) != owners.get(name)
    ]


def describe(moved: Sequence[Moved]) -> str:
    return "; ".join(f"{m.what}: {m.planned} -> {m.now}" for m in moved)


__all__ = [
    "MAX_AGE",
    "PlanError",
    "build",
    "check_age",
    "check_digest",
    "check_target",
    "describe",
    "dumps",
    "load",
    "moved_live",
    "moved_owners",
    "moved_trees",
    "parse_age",
    "trees_on_disk",
    "write",
]
