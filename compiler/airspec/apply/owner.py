"""Who owns a live object: the owner identity apply records, and the rule that reads it back.

An owner is a spec *in a repository*: `<repository>/<metadata.name>`, for example
`github.com/acme/platform/remote-exec-demo`. The repository part comes from the git work tree
holding the spec: its `origin` remote, normalized (no scheme, no user or token, no port, no
`.git`, lowercase, white space as `_`, non-ASCII path parts as punycode), so a copy of a spec
in another repository, even with the same `metadata.name`, is another owner. What could name
two repositories by accident is refused rather than guessed: a relative `origin`
(`../platform.git` is another repository in each checkout) or none at all (clones of one
starter share its root commit). `AIRSPEC_REPOSITORY` names the repository only where git
cannot: no git work tree, or no usable `origin`; it never overrides a remote. The spec's
path is recorded beside the owner for people, but is not part of the identity: renaming a
spec file does not change who owns its objects.

Where the identity is written:
- AWS (IAM roles, policies, OIDC providers, owned S3 buckets, EKS add-ons and Pod Identity
  associations): tags `airspec.io/owner` and `airspec.io/spec`;
- Kubernetes objects: the annotations of the same names (with field manager `airspec`);
- a Google service account (which has no labels): its description,
  `airspec.io/owner=<owner> airspec.io/spec=<path>`.

The rule (one for every object): the recorded owner equals this spec's → airspec may update
it; another owner → *claimed by another spec* (never updated, never pruned; `--adopt` takes
it over and names the previous owner); none → not made by airspec (changed only with
`--adopt`). Objects an earlier airspec tagged with `airspec.io/name` alone have no owner
identity and count as not made by this owner.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from airspec.repo import git_work_tree

TAG_OWNER = "airspec.io/owner"
TAG_SPEC = "airspec.io/spec"
LEGACY_TAG_NAME = "airspec.io/name"  # airspec <= 0.1: the spec's name alone
REPOSITORY_ENV = "AIRSPEC_REPOSITORY"
# IAM, S3 and EKS accept letters, digits, spaces and _ . : / = + - @ in tag values, at most
# 256 characters (IAM User Guide, "Tagging IAM resources": tag naming rules)
_TAG_UNSAFE = re.compile(r"[^\w.:/=+\-@ ]", re.UNICODE)
MAX_TAG_VALUE = 256


class OwnerError(Exception):
    """The owner identity cannot be decided (no git repository and no AIRSPEC_REPOSITORY)."""


def normalize_remote(url: str) -> str:
    """A git remote URL as a repository identity: host and path, no scheme, credentials,
    port or `.git`, lowercase. `git@github.com:Acme/Infra.git` and
    `https://x-access-token:…@github.com/acme/infra` are both `github.com/acme/infra`;
    white space becomes `_` and a non-ASCII path part its punycode (`xn--…`), so the
    identity is one ASCII word in every place it is written."""
    text = url.strip()
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://(?P<rest>.*)$", text)
    if m:
        rest = m.group("rest")
        authority, _, path = rest.partition("/")
        host = authority.rsplit("@", 1)[-1].split(":", 1)[0]  # userinfo and port dropped
        text = f"{host}/{path}" if host else path
    else:
        scp = re.match(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.*)$", text)  # git@host:path
        if scp and not re.match(r"^[A-Za-z]:[\\/]", text):
            text = f"{scp.group('host')}/{scp.group('path')}"
    text = text.strip("/").removesuffix(".git").strip("/").lower()
    parts = [_ascii(p) for p in re.sub(r"\s+", "_", text).split("/") if p]
    return _TAG_UNSAFE.sub("_", "/".join(parts))


def _ascii(part: str) -> str:
    return part if part.isascii() else "xn--" + part.encode("punycode").decode("ascii")


def _relative(url: str) -> bool:
    """A remote that names a folder relative to the checkout (`../x.git`, `./x`, `x`)."""
    text = url.strip()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) or text.startswith("/"):
        return False
    return not re.match(r"^(?:[^@/]+@)?[^:/]+:", text)  # scp-like host:path is not


def _git(top: Path, *args: str) -> str:
    try:
        got = subprocess.run(
            ["git", "-C", str(top), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return got.stdout.strip() if got.returncode == 0 else ""


def repository_identity(spec: Path) -> str:
    """The repository part of the owner identity for a spec file.

    Raises OwnerError when it cannot be decided."""
    explicit = os.environ.get(REPOSITORY_ENV, "").strip()
    top = git_work_tree(spec.parent)
    remote = _git(top, "config", "--get", "remote.origin.url") if top is not None else ""
    if remote and not _relative(remote):
        return normalize_remote(remote)
    if explicit:
        return normalize_remote(explicit)
    if top is None:
        why = f"{spec} is not in a git repository"
    elif remote:
        why = (
            f"the git repository at {top} has a relative 'origin' ({_shown_remote(remote)}), "
            "which names another repository in each checkout"
        )
    else:
        why = (
            f"the git repository at {top} has no 'origin' remote (clones of one starter "
            "would share any other identity)"
        )
    raise OwnerError(
        f"{why}, so airspec cannot record who owns the live objects; add the remote, or set "
        f"{REPOSITORY_ENV} to your repository (e.g. github.com/acme/platform)"
    )


def _shown_remote(url: str) -> str:
    return re.sub(r"//[^/@\s]*@", "//", url)  # never a token from the remote in a message


MAX_IDENTITY = 200  # leaves room in a GSA description (256 bytes) for the key and spec path


def owner_identity(repository: str, name: str) -> str:
    """`<repository>/<name>`, at most MAX_IDENTITY characters (ASCII): a longer one keeps
    the name and a digest of the whole."""
    owner = f"{repository}/{name}"
    if len(owner) <= MAX_IDENTITY:
        return owner
    digest = hashlib.sha256(owner.encode()).hexdigest()[:16]
    keep = MAX_IDENTITY - len(name) - len(digest) - 2
    return f"{repository[:keep]}~{digest}/{name}"


@dataclass(frozen=True)
class Owner:
    """This spec's owner identity, and the spec path recorded beside it."""

    identity: str
    spec: str

    def tags(self) -> dict[str, str]:
        return {TAG_OWNER: self.identity, TAG_SPEC: _TAG_UNSAFE.sub("_", self.spec)[:256]}

    def description(self) -> str:
        """For a Google service account's description: the owner first and whole, then the
        spec path, cut to the API's limit of 256 UTF-8 bytes."""
        head = f"{TAG_OWNER}={self.identity}"
        spec = re.sub(r"\s+", "_", self.spec)
        text = f"{head} {TAG_SPEC}={spec}"
        while len(text.encode("utf-8")) > 256:
            text = text[:-1]
        return text if text.startswith(head) else head


def owner_for(spec: Path, name: str, source: str) -> Owner:
    """The owner identity of the spec at `spec` (its metadata.name `name`, its path as
    headers name it `source`). Raises OwnerError."""
    return Owner(owner_identity(repository_identity(spec), name), source)


class Standing(StrEnum):
    """How a live object stands to this spec's owner."""

    OURS = "ours"
    CLAIMED = "claimed"  # recorded for another owner
    LEGACY = "legacy"  # tagged by an earlier airspec without an owner identity
    FOREIGN = "foreign"  # nothing airspec recorded


@dataclass(frozen=True)
class Recorded:
    """What a live object records about its owner: the owner identity, or what an earlier
    airspec left without one (a spec name tag, the `airspec` field manager)."""

    owner: str | None
    legacy_name: str | None = None

    def standing(self, ours: Owner) -> Standing:
        if self.owner == ours.identity:
            return Standing.OURS
        if self.owner:
            return Standing.CLAIMED
        if self.legacy_name:
            return Standing.LEGACY
        return Standing.FOREIGN

    def who(self) -> str:
        """The owner on record, as a refusal or an adoption names it."""
        if self.owner:
            return f"'{self.owner}'"
        if self.legacy_name:
            return f"an earlier airspec ({self.legacy_name}), no owner identity"
        return "none recorded: not made by airspec"


def recorded_in_tags(tags: dict[str, str] | None) -> Recorded:
    tags = tags or {}
    legacy = tags.get(LEGACY_TAG_NAME)
    return Recorded(tags.get(TAG_OWNER) or None, f"spec name '{legacy}'" if legacy else None)


# only at the start: a description that quotes an owner somewhere in its text is not one
_DESCRIPTION_OWNER = re.compile(r"^" + re.escape(TAG_OWNER) + r"=(\S+)")
_DESCRIPTION_LEGACY = re.compile(r"^" + re.escape(LEGACY_TAG_NAME) + r"=(\S+)")


def recorded_in_description(description: str | None) -> Recorded:
    text = description or ""
    owner = _DESCRIPTION_OWNER.match(text)
    legacy = _DESCRIPTION_LEGACY.match(text)
    return Recorded(
        owner.group(1) if owner else None, f"spec name '{legacy.group(1)}'" if legacy else None
    )


def recorded_in_annotations(annotations: dict[str, str] | None, managers: set[str]) -> Recorded:
    """A Kubernetes object: the owner annotation; an `airspec` field manager without it is
    an earlier airspec's."""
    owner = (annotations or {}).get(TAG_OWNER) or None
    return Recorded(owner, "field manager 'airspec'" if "airspec" in managers else None)
