"""`airspec review`: what a change grants, by meaning, between the compiled trees at a git
revision and the working tree.

For each tree (spec) and each identity in it, the grants of both sides are cut into atoms
and each atom is decided with the broadening engine of `apply` (`apply.grants`): an atom of
the new side that no statement of the old side allows is *added* (broadening); an atom of the
old side that no statement of the new side allows is *removed* (narrowing). So `s3:GetObject`
becoming `s3:*` is one added grant (the old one is still allowed), a prefix narrowed from
`logs/*` to `logs/2024/*` is one removed grant, and reordering, reformatting or splitting
statements is no change at all.

- AWS: an Allow statement is cut into one atom per (action, resource, principal) and per value
  of each multi-valued condition (IAM ORs a key's values, so the cut keeps the meaning); the
  permission policy and the inline policies are the identity's grants, its trust policy (and
  EKS Pod Identity associations) who may assume it. A Deny the new side dropped is broadening,
  a Deny it added narrowing. NotAction, NotResource and NotPrincipal stay whole statements,
  decided as the engine decides them (only an identical statement covers one).
- GCP (`gcp/iam-bindings.json`): an atom is (resource, role, member, condition); it is covered
  by the same resource, role and member either unconditioned or under the same condition
  expression (CEL is not compared by meaning: another expression is a new grant). Members of
  `roles/iam.workloadIdentityUser` on the Google service account are who may assume it; every
  other member's bindings are its grants. Roles are compared by name, not by permissions.

A file of the new side that differs from what its spec compiles to was edited by hand (or
not recompiled): each broadening it adds beyond the compiled tree is called out as such.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any

from airspec.apply.grants import grants_beyond
from airspec.apply.normalize import iam_document, member_key

REVIEW_VERSION = "airspec.review/v1"
MARKER = "<!-- airspec-review -->"  # the PR comment a workflow updates in place

Tree = Mapping[str, bytes]  # path in out/<name>/ -> bytes
Trees = Mapping[str, Tree]  # tree name -> files

# (permission policy, trust policy) per AWS identity, by path in out/<name>/
_AWS_ROLES = (
    ("aws/iam-policy.json", "aws/trust-policy.json"),
    ("aws/log-reader-policy.json", "aws/log-reader-trust-policy.json"),
)
_POD_IDENTITY = "aws/pod-identity-associations.json"
_GCP_BINDINGS = "gcp/iam-bindings.json"
_WI_USER = "roles/iam.workloadIdentityUser"


class ReviewError(Exception):
    """The revision or the trees cannot be read; the message says why."""


# --- atoms ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One indivisible grant: an IAM statement allowing one thing, or one GCP binding."""

    kind: str  # "grant" (what the identity may do) | "assume" (who may become it) | "deny"
    text: str  # as a reviewer reads it
    statement: str = ""  # the IAM statement as normalized JSON (sorted), for the engine
    # a GCP binding (resource, role, member, condition) or a Pod Identity association
    key: tuple[str, str, str, str] | None = None
    source: str = ""  # the file in out/<name>/ that grants it

    def as_statement(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.statement)
        return loaded


def _values_cut(condition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A condition block split into one block per combination of single values."""
    keys = [
        (op, key, values)
        for op, kv in sorted(condition.items())
        for key, values in sorted(kv.items())
    ]
    for combo in product(*([(op, key, v) for v in values] for op, key, values in keys)):
        block: dict[str, Any] = {}
        for op, key, value in combo:
            block.setdefault(op, {})[key] = [value]
        yield block


def _principal_cut(principal: Any) -> Iterator[Any]:
    if not isinstance(principal, dict):
        yield principal
        return
    for kind, values in sorted(principal.items()):
        for value in values:
            yield {kind: [value]}


def _atoms_of_statement(st: dict[str, Any], kind: str) -> Iterator[dict[str, Any]]:
    if any(k in st for k in ("NotAction", "NotResource", "NotPrincipal")):
        yield st
        return
    principals = list(_principal_cut(st["Principal"])) if "Principal" in st else [None]
    conditions = list(_values_cut(st.get("Condition", {}))) or [{}]
    resources = st.get("Resource") if "Resource" in st else [None]
    for action, resource, principal, cond in product(
        st.get("Action", []), resources or [None], principals, conditions
    ):
        atom: dict[str, Any] = {"Effect": st["Effect"], "Action": [action]}
        if resource is not None:
            atom["Resource"] = [resource]
        if principal is not None:
            atom["Principal"] = principal
        if cond:
            atom["Condition"] = cond
        yield atom


def _condition_text(cond: dict[str, Any]) -> str:
    parts = []
    for op, kv in sorted(cond.items()):
        for key, values in sorted(kv.items()):
            parts.append(f"{key} {op} {', '.join(values)}")
    return " and ".join(parts)


def _assumer_text(st: dict[str, Any]) -> str:
    """Who a trust statement lets assume the role, in the words of the mechanism."""
    cond = {k.lower(): v for kv in st.get("Condition", {}).values() for k, v in kv.items()}
    principal = st.get("Principal")
    subject = next((v[0] for k, v in cond.items() if k.endswith(":sub") and len(v) == 1), None)
    if subject and subject.startswith("system:serviceaccount:"):
        ns, _, sa = subject.removeprefix("system:serviceaccount:").partition(":")
        issuer = next((k.rsplit(":", 1)[0] for k in cond if k.endswith(":sub")), "")
        return f"service account {ns}/{sa} (IRSA, issuer {issuer})"
    sa = cond.get("aws:requesttag/kubernetes-service-account")
    ns = cond.get("aws:requesttag/kubernetes-namespace")
    if sa and ns and len(sa) == 1 and len(ns) == 1:
        cluster = cond.get("aws:requesttag/eks-cluster-arn", ["?"])[0].rsplit("/", 1)[-1]
        return f"service account {ns[0]}/{sa[0]} (EKS Pod Identity, cluster {cluster})"
    who = json.dumps(principal, sort_keys=True) if principal is not None else "anyone"
    rest = _condition_text(st.get("Condition", {}))
    return f"principal {who}" + (f" when {rest}" if rest else "")


def _grant_text(st: dict[str, Any]) -> str:
    if any(k in st for k in ("NotAction", "NotResource", "NotPrincipal")):
        return "statement " + json.dumps(st, sort_keys=True)
    text = f"{st['Action'][0]} on {st.get('Resource', ['*'])[0]}"
    cond = _condition_text(st.get("Condition", {}))
    return text + (f" when {cond}" if cond else "")


def iam_atoms(document: Any, kind: str) -> list[Atom]:
    """The atoms of an IAM document: `kind` "grant" for a permission policy, "assume" for a
    trust policy; Deny statements become "deny" atoms."""
    doc = iam_document(document)
    out: list[Atom] = []
    for st in doc["Statement"].values():
        for atom in _atoms_of_statement(st, kind):
            deny = atom.get("Effect") != "Allow"
            text = (
                (_assumer_text(atom) if kind == "assume" else _grant_text(atom))
                if not deny
                else ("Deny " + _grant_text(atom))
            )
            out.append(Atom("deny" if deny else kind, text, json.dumps(atom, sort_keys=True)))
    return sorted(set(out), key=lambda a: a.text)


# --- identities of one tree -------------------------------------------------------------------


@dataclass
class Identity:
    """The grants of one identity and who may assume it, on one side."""

    name: str  # "IAM role X", "Google service account x@p", "member user:a@b"
    artifacts: set[str] = field(default_factory=set)
    atoms: list[Atom] = field(default_factory=list)


def _load(tree: Tree, path: str) -> Any:
    data = tree.get(path)
    if data is None:
        return None
    return json.loads(data.decode("utf-8"))


def _role_name(tree: Tree, trust_path: str, fallback: str) -> str:
    manifest = _load(tree, "manifest.json") or {}
    for a in manifest.get("artifacts", []):
        live = a.get("live") or {}
        if a.get("path") == trust_path and isinstance(live.get("id"), str):
            return str(live["id"]).rsplit("/", 1)[-1]
    return fallback


def identities(tree: Tree) -> dict[str, Identity]:
    """Every identity a compiled tree wires, by name."""
    found: dict[str, Identity] = {}

    def get(name: str) -> Identity:
        return found.setdefault(name, Identity(name))

    for policy_path, trust_path in _AWS_ROLES:
        if policy_path not in tree and trust_path not in tree:
            continue
        fallback = "log-reader role" if "log-reader" in policy_path else "role"
        ident = get(f"IAM role {_role_name(tree, trust_path, fallback)}")
        for path, kind in ((policy_path, "grant"), (trust_path, "assume")):
            doc = _load(tree, path)
            if doc is not None:
                ident.artifacts.add(path)
                ident.atoms += [replace(a, source=path) for a in iam_atoms(doc, kind)]
    pod = _load(tree, _POD_IDENTITY)
    if pod is not None:
        for assoc in pod.get("associations", []):
            role = str(assoc.get("roleARN", "")).rsplit("/", 1)[-1]
            ident = get(f"IAM role {role}")
            ident.artifacts.add(_POD_IDENTITY)
            text = (
                f"service account {assoc.get('namespace')}/{assoc.get('serviceAccountName')} "
                f"(EKS Pod Identity association, cluster {pod.get('cluster')})"
            )
            ident.atoms.append(
                Atom("assume", text, key=("eks", "association", text, ""), source=_POD_IDENTITY)
            )
    bindings = _load(tree, _GCP_BINDINGS)
    if bindings is not None:
        for name, atom in _gcp_atoms(bindings):
            ident = get(name)
            ident.artifacts.add(_GCP_BINDINGS)
            ident.atoms.append(replace(atom, source=_GCP_BINDINGS))
    return found


def _gcp_atoms(doc: dict[str, Any]) -> Iterator[tuple[str, Atom]]:
    for res in doc.get("resources", []):
        resource = str(res.get("resource", ""))
        for b in res.get("bindings", []):
            role = str(b.get("role", ""))
            cond = (b.get("condition") or {}).get("expression", "")
            for raw in b.get("members", []):
                member = member_key(str(raw))
                key = (resource, role, member, cond)
                where = f" if {cond}" if cond else " (unconditioned)"
                if role == _WI_USER and res.get("type") == "iam.serviceAccount":
                    gsa = resource.rsplit("/", 1)[-1]
                    text = f"{member} (Workload Identity)"
                    yield f"Google service account {gsa}", Atom("assume", text, key=key)
                else:
                    name = (
                        f"Google service account {member.removeprefix('serviceaccount:')}"
                        if member.startswith("serviceaccount:") and "[" not in member
                        else f"member {member}"
                    )
                    yield name, Atom("grant", f"{role} on {resource}{where}", key=key)


def _covered(atom: Atom, others: list[Atom]) -> bool:
    """Does some atom of the other side allow everything `atom` allows?"""
    if atom.key is not None:
        resource, role, member, cond = atom.key
        return any(
            o.key is not None and o.key[:3] == (resource, role, member) and o.key[3] in ("", cond)
            for o in others
        )
    if atom.kind == "deny":
        return atom in others
    statements = [o.as_statement() for o in others if o.key is None and o.kind == atom.kind]
    return not grants_beyond(atom.as_statement(), statements)


# --- the review ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One grant added or removed for one identity."""

    tree: str
    identity: str
    kind: str  # grant | assume | deny
    change: str  # added | removed
    text: str
    broadening: bool
    related: tuple[str, ...] = ()  # added: what it replaces; removed: what it narrowed to
    hand_edit: str = ""  # the out/ file that grants it though its spec does not

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree": self.tree,
            "identity": self.identity,
            "kind": self.kind,
            "change": self.change,
            "text": self.text,
            "broadening": self.broadening,
            "related": list(self.related),
            "handEdit": self.hand_edit or None,
        }


@dataclass(frozen=True)
class Review:
    base: str  # the revision as given / resolved
    base_note: str  # e.g. "merge base with main"
    head: str  # "working tree"
    out: str  # the out folder, relative to the project
    changes: tuple[Change, ...]
    trees: tuple[str, ...]
    notes: tuple[str, ...] = ()  # what could not be decided (a spec that does not compile)

    @property
    def broadening(self) -> list[Change]:
        return [c for c in self.changes if c.broadening]

    @property
    def narrowing(self) -> list[Change]:
        return [c for c in self.changes if not c.broadening]


def _broadens(kind: str, change: str) -> bool:
    # an added grant or assumer widens; a removed Deny widens too
    return (change == "added") != (kind == "deny")


def _one_way(
    tree: str, name: str, side: list[Atom], other: list[Atom], change: str
) -> list[Change]:
    """The atoms of `side` no atom of `other` covers, as `change` ("added": side is the new
    one); each with the atoms of `other` it replaced or was narrowed to."""
    out = []
    for atom in side:
        if _covered(atom, other):
            continue
        related = _related(atom, side, other)
        out.append(
            Change(tree, name, atom.kind, change, atom.text, _broadens(atom.kind, change), related)
        )
    return out


def _related(atom: Atom, side: list[Atom], other: list[Atom]) -> tuple[str, ...]:
    """Added: the old atoms the new one covers (it replaced them). Removed: the new atoms the
    old one covers (it was narrowed to them)."""
    return tuple(
        o.text for o in other if o not in side and o.kind == atom.kind and _covered(o, [atom])
    )


def diff_identity(tree: str, name: str, old: Identity | None, new: Identity | None) -> list[Change]:
    """The changes of one identity between two sides (None: absent on that side)."""
    before = old.atoms if old else []
    after = new.atoms if new else []
    return _one_way(tree, name, after, before, "added") + _one_way(
        tree, name, before, after, "removed"
    )


def review_trees(
    base: Trees,
    head: Trees,
    compiled: Trees | None = None,
    *,
    base_name: str = "base",
    base_note: str = "",
    out: str = "out",
) -> Review:
    """Compare two sets of compiled trees by meaning. `compiled`: what the head's specs
    compile to, to tell hand edits of out/ apart (a tree missing from it is not checked)."""
    changes: list[Change] = []
    for tree in sorted(set(base) | set(head)):
        old = identities(base.get(tree, {}))
        new = identities(head.get(tree, {}))
        made = compiled.get(tree) if compiled is not None else None
        truth = identities(made) if made is not None else None
        for name in sorted(set(old) | set(new)):
            found = diff_identity(tree, name, old.get(name), new.get(name))
            if truth is not None and made is not None:
                found = [_mark_hand_edit(c, truth.get(name), new.get(name)) for c in found]
            changes += found
    order = {True: 0, False: 1}
    changes.sort(key=lambda c: (order[c.broadening], c.tree, c.identity, c.kind, c.change, c.text))
    return Review(
        base=base_name,
        base_note=base_note,
        head="working tree",
        out=out,
        changes=tuple(changes),
        trees=tuple(sorted(set(base) | set(head))),
    )


def _mark_hand_edit(change: Change, truth: Identity | None, new: Identity | None) -> Change:
    """A broadening the compiled tree does not grant came from editing out/ by hand."""
    if not change.broadening or change.change != "added" or new is None:
        return change
    atom = next(a for a in new.atoms if a.text == change.text and a.kind == change.kind)
    if _covered(atom, truth.atoms if truth else []):
        return change
    return replace(change, hand_edit=atom.source)


# --- git ---------------------------------------------------------------------------------


def _git(root: Path, *args: str, binary: bool = False) -> Any:
    got = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    if got.returncode != 0:
        raise ReviewError(got.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return got.stdout if binary else got.stdout.decode("utf-8").strip()


def default_base(root: Path) -> tuple[str, str]:
    """The merge base of HEAD with the default branch (origin's HEAD, else main, else
    master): the revision a pull request is reviewed against, and how it was found."""
    candidates = []
    with contextlib.suppress(ReviewError):
        candidates.append(_git(root, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"))
    candidates += ["main", "master", "origin/main", "origin/master"]
    for branch in candidates:
        try:
            _git(root, "rev-parse", "--verify", "-q", f"{branch}^{{commit}}")
        except ReviewError:
            continue
        return _git(root, "merge-base", "HEAD", branch), f"merge base with {branch}"
    raise ReviewError("no default branch (origin/HEAD, main, master) to review against; name BASE")


def trees_at(root: Path, revision: str, out: str) -> dict[str, dict[str, bytes]]:
    """The identity files of every out/<name>/ tree at `revision`."""
    listing = _git(
        root, "ls-tree", "-r", "-z", "--name-only", revision, "--", out + "/", binary=True
    )
    wanted = {p for pair in _AWS_ROLES for p in pair} | {
        _POD_IDENTITY,
        _GCP_BINDINGS,
        "manifest.json",
    }
    trees: dict[str, dict[str, bytes]] = {}
    for raw in listing.split(b"\0"):
        if not raw:
            continue
        path = raw.decode("utf-8")
        name, _, rel = path.removeprefix(out + "/").partition("/")
        if rel in wanted:
            trees.setdefault(name, {})[rel] = _git(root, "show", f"{revision}:{path}", binary=True)
    return trees


def trees_on_disk(out_dir: Path) -> dict[str, dict[str, bytes]]:
    """The identity files of every out/<name>/ tree in the working tree."""
    wanted = {p for pair in _AWS_ROLES for p in pair} | {
        _POD_IDENTITY,
        _GCP_BINDINGS,
        "manifest.json",
    }
    trees: dict[str, dict[str, bytes]] = {}
    if not out_dir.is_dir():
        return trees
    for tree in sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for rel in sorted(wanted):
            if (tree / rel).is_file():
                trees.setdefault(tree.name, {})[rel] = (tree / rel).read_bytes()
    return trees


def compiled_trees(
    root: Path, out_dir: Path, head: Trees
) -> tuple[dict[str, dict[str, bytes]], list[str]]:
    """What each head tree's spec (named in its manifest) compiles to now; notes for specs
    that do not compile (their trees are not checked for hand edits)."""
    from airspec.emit import render_tree
    from airspec.pipeline import compile_specs

    specs, notes = [], []
    for name, files in sorted(head.items()):
        source = (json.loads(files["manifest.json"]) if "manifest.json" in files else {}).get(
            "source"
        )
        if isinstance(source, str) and (root / source).is_file():
            specs.append(root / source)
        else:
            notes.append(
                f"{name}: no spec to compile (manifest names none that exists); not checked for hand edits"
            )
    batch = compile_specs(specs, out_dir)
    trees = {}
    for result in batch.compiled:
        r = result.resolved
        assert r is not None
        trees[r.name] = render_tree(r.name, result.artifacts, r.source)
    for name in sorted(set(head) - set(trees)):
        if not any(n.startswith(f"{name}:") for n in notes):
            notes.append(f"{name}: its spec does not compile; not checked for hand edits")
    return trees, notes


def review(root: Path, out_dir: Path, base: str | None = None) -> Review:
    """Review the working tree's out/ against `base` (default: the merge base with the
    default branch)."""
    note = ""
    if base is None:
        revision, note = default_base(root)
    else:
        revision = _git(root, "rev-parse", "--verify", "-q", f"{base}^{{commit}}")
        note = base
    try:
        out = out_dir.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise ReviewError(f"{out_dir} is not inside the git work tree {root}") from None
    old = trees_at(root, revision, out)
    new = trees_on_disk(out_dir)
    compiled, notes = compiled_trees(root, out_dir, new)
    result = review_trees(old, new, compiled, base_name=revision[:12], base_note=note, out=out)
    return replace(result, notes=tuple(notes))


# --- output -------------------------------------------------------------------------------------


def _line(c: Change) -> str:
    sign = "+" if c.change == "added" else "-"
    what = {"grant": "", "assume": "may be assumed by ", "deny": ""}[c.kind]
    text = f"{sign} {what}{c.text}"
    if c.related:
        text += (
            (" (in place of " if c.change == "added" else " (narrowed to ")
            + "; ".join(c.related)
            + ")"
        )
    if c.hand_edit:
        text += f"  [HAND EDIT of out/{c.tree}/{c.hand_edit}: the spec does not grant this]"
    return text


def _header(r: Review) -> str:
    base = f"{r.base}" + (f" ({r.base_note})" if r.base_note and r.base_note != r.base else "")
    return f"{r.out}/ at {base} -> {r.head}"


def to_text(r: Review) -> str:
    lines = [f"airspec review: {_header(r)}"]
    if not r.changes:
        lines.append("no grant changes")
    for title, group in (("broadening", r.broadening), ("narrowing", r.narrowing)):
        if not group:
            continue
        lines.append(f"{title.upper()} ({len(group)})")
        current = None
        for c in group:
            if (c.tree, c.identity) != current:
                current = (c.tree, c.identity)
                lines.append(f"  {c.tree}: {c.identity}")
            lines.append(f"    {_line(c)}")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines) + "\n"


def to_json(r: Review) -> str:
    doc = {
        "version": REVIEW_VERSION,
        "base": r.base,
        "baseNote": r.base_note,
        "head": r.head,
        "out": r.out,
        "trees": list(r.trees),
        "counts": {
            "broadening": len(r.broadening),
            "narrowing": len(r.narrowing),
            "handEdits": sum(bool(c.hand_edit) for c in r.changes),
        },
        "changes": [c.as_dict() for c in r.changes],
        "notes": list(r.notes),
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(r: Review) -> str:
    """The PR comment: broadening first, one table per tree and identity."""
    out = [
        MARKER,
        "### airspec review: what this change grants",
        "",
        f"`{r.out}/` at `{r.base}`"
        + (f" ({r.base_note})" if r.base_note and r.base_note != r.base else "")
        + f" compared with the {r.head}, by meaning: IAM statements as IAM evaluates them, "
        "GCP bindings by member, role and condition.",
        "",
    ]
    hand = sum(bool(c.hand_edit) for c in r.changes)
    if not r.changes:
        out.append("**No grant changes.**")
    else:
        summary = f"**{len(r.broadening)} broadening, {len(r.narrowing)} narrowing**"
        if hand:
            summary += f", **{hand} from hand edits of `{r.out}/`**"
        out.append(summary)
    for title, group in (("⚠️ Broadening", r.broadening), ("Narrowing", r.narrowing)):
        if not group:
            continue
        out += ["", f"#### {title}", ""]
        out += ["| tree | identity | change |", "|---|---|---|"]
        for c in group:
            line = _md(_line(c))
            if c.hand_edit:
                line = f"**{line}**"
            out.append(f"| `{c.tree}` | {_md(c.identity)} | {line} |")
    if r.notes:
        out += ["", *[f"- note: {_md(n)}" for n in r.notes]]
    return "\n".join(out) + "\n"
