"""The diagnostic code table: every code airspec can raise, its docs, and `make`.

AS0xx: the file and its YAML. AS1xx: the shape of the spec (schema). AS2xx: meaning (spec
rules, whose checks and docs register from `airspec.rules.*` with `@rule`). AS4xx: the
`.airspecignore` file. Every stage names a code by its constant here, never by its text.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airspec.diagnostics import Diagnostic, Severity

if TYPE_CHECKING:
    from airspec.rules.context import RuleContext

Check = Callable[["RuleContext"], Iterable[Diagnostic]]


@dataclass(frozen=True)
class Rule:
    """A diagnostic code with its explanation; `check` is set for rules over a parsed spec."""

    code: str
    name: str
    doc: str
    check: Check | None = None
    # "raw": runs on every loaded tree; "spec": once the model parsed; "compile": also reads
    # files beside the spec; "artifacts": on the lowered artifacts (RuleContext.artifacts)
    phase: str = "spec"

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else self.name


REGISTRY: dict[str, Rule] = {}


def _add(rule: Rule) -> None:
    if rule.code in REGISTRY:
        raise RuntimeError(f"rule code {rule.code} registered twice")
    REGISTRY[rule.code] = rule


def declare(code: str, name: str, doc: str) -> str:
    """Register a code raised by the loader or the schema stage; returns the code."""
    _add(Rule(code, name, inspect.cleandoc(doc)))
    return code


def rule(code: str, name: str, phase: str = "spec") -> Callable[[Check], Check]:
    """Register a spec check; its docstring is what `airspec explain CODE` prints."""

    def wrap(fn: Check) -> Check:
        _add(Rule(code, name, inspect.cleandoc(fn.__doc__ or ""), fn, phase))
        return fn

    return wrap


def make(
    code: str,
    where: tuple[str, int, int],
    message: str,
    hint: str = "",
    severity: Severity = Severity.ERROR,
) -> Diagnostic:
    """Build a diagnostic for a registered code at `where` = (file, line, col)."""
    if code not in REGISTRY:
        raise KeyError(f"unregistered diagnostic code {code}")
    file, line, col = where
    return Diagnostic(file, line, col, code, message, hint, severity)


# --- The table -------------------------------------------------------------------------

UNREADABLE = declare(
    "AS001",
    "unreadable-file",
    """The spec file cannot be read as UTF-8 text.

    It does not exist, is a directory, cannot be opened, or holds bytes that are not UTF-8.
    """,
)
YAML_SYNTAX = declare(
    "AS002",
    "yaml-syntax",
    """The spec is not valid YAML.

    The position is where the YAML parser gave up; the mistake is often just before it
    (an unclosed quote or bracket, a tab, a mis-indented key).
    """,
)
EMPTY_FILE = declare(
    "AS003",
    "empty-file",
    """The spec file holds no document (it is empty or only comments).""",
)
ROOT_NOT_MAPPING = declare(
    "AS004",
    "root-not-mapping",
    """The top level of a spec must be a mapping (apiVersion, kind, metadata, ...).""",
)
DUPLICATE_KEY = declare(
    "AS005",
    "duplicate-key",
    """A mapping names the same key twice.

    YAML parsers disagree on which one wins (most keep the last, silently), so airspec
    refuses the spec. Example::

        metadata:
          name: a
          name: b      # AS005
    """,
)
UNSUPPORTED_YAML = declare(
    "AS006",
    "unsupported-yaml",
    """The spec uses a YAML feature a spec does not allow: any explicit tag (a custom one
    like `!Ref`, a language one like `!!python/str`, or even a standard one like `!!str`),
    a non-scalar mapping key, or a merge key that does not name a mapping.

    Tags are refused because readers disagree on them: a standard tag is harmless to
    airspec but a language tag makes some YAML loaders build objects, and a spec should
    mean the same to every tool that reads it. Quote a value to keep it a string.""",
)
YAML_TOO_LARGE = declare(
    "AS007",
    "yaml-too-large",
    """The YAML expands beyond what a spec can need: refused before it is built.

    Aliases (`*name`) repeat the anchored node, so a few lines can expand into billions of
    nodes (the "billion laughs"), and a file in CI is untrusted input. airspec counts the
    nodes the document expands into, aliases included, and stops at the alias that takes it
    past 100,000 nodes (a real spec has a few hundred), in the spirit of Go yaml.v3's
    alias-ratio guard. It also refuses an alias inside the node its anchor names (a cycle:
    `a: &a [*a]`) and nesting deeper than 64 levels. Example::

        a: &a [x, x, x, x, x, x, x, x, x]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]   # ... nine levels: AS007
    """,
)
UNKNOWN_KEY = declare(
    "AS101",
    "unknown-key",
    """A key that spec v1 does not define at this place.

    Usually a typo; the message suggests the closest known key. Example::

        deployment:
          namespce: airflow-agents   # AS101: did you mean 'namespace'?
    """,
)
WRONG_TYPE = declare(
    "AS102",
    "wrong-type",
    """A value of the wrong type, e.g. a list where a mapping is expected.

    Account ids and Kubernetes versions are strings: quote them (`accountId: "012345678901"`),
    or YAML reads them as numbers and drops leading zeros.
    """,
)
MISSING_FIELD = declare(
    "AS103",
    "missing-field",
    """A required field is absent. `airspec schema` lists what each block requires.""",
)
INVALID_VALUE = declare(
    "AS104",
    "invalid-value",
    """A value of the right type outside what the field accepts (an enum, a range, a format).""",
)
NOT_DNS_SAFE = declare(
    "AS105",
    "not-dns-safe",
    """A name that must be a DNS label (RFC 1123) is not one.

    Kubernetes namespaces, Secret and ServiceAccount names, and out/<name>/ use it:
    lowercase letters, digits and '-', starting and ending with a letter or digit,
    at most 63 characters.
    """,
)
BAD_ACCOUNT_ID = declare(
    "AS106",
    "bad-account-id",
    """An AWS account id must be exactly 12 digits, written as a quoted string.""",
)
BAD_FORMAT = declare(
    "AS107",
    "bad-format",
    """A value does not have the format the field needs (an https URL, an ARN, a region,
    a bucket name, an IAM name, a Kubernetes version, a resource quantity).""",
)
LOCK_FILE = declare(
    "AS216",
    "lock-file",
    """The lock file beside the spec (`<spec>.lock.json`, written by `airspec resolve`)
    cannot be read, is not valid JSON, or was written for another cluster.

    Delete it and run `airspec resolve SPEC` again.
    """,
)
MODEL_ERROR = declare(
    "AS199",
    "invalid-spec",
    """A value the schema accepts but the model does not (e.g. an infinite number).""",
)

DUPLICATE_SPEC_NAME = declare(
    "AS220",
    "duplicate-spec-name",
    """Two specs compiled (or checked live) together name the same `metadata.name`.

    The name is the folder under out/ and part of every live object's name, so the second
    spec would overwrite the first one's artifacts. Give each spec its own name.
    """,
)

SHARED_LIVE_OBJECT = declare(
    "AS225",
    "shared-live-object",
    """Two specs compiled (or applied) together name the same live object that each would
    write: an IAM role or policy (IAM names compare without case), an owned bucket, a Google
    service account or one of its binding slots, a Workload Identity principal (one per
    project, whatever the cluster), a Kubernetes namespace or service account, or a Helm
    release on one cluster.

    Each apply would rewrite the object to its own spec's version (a new policy version on
    every run, a bucket policy losing the other spec's binding), so this is refused before
    anything is read. Give each spec its own object. Objects shared by design are not
    refused: the cluster's OIDC provider (planned once, never pruned while a role trusts it),
    the cluster, and a bucket that a spec names without `owned: true`.

    Specs in different repositories cannot see each other here; at apply time the owner
    identity (`airspec.io/owner`) keeps one from changing what the other owns.
    """,
)

# Spec rules: checks and docs register with @rule in airspec/rules/<module>.py.
ISSUER_REGION = "AS201"  # rules/aws.py
UNDECLARED_BUCKET = "AS202"  # rules/references.py
SECRET_VALUE = "AS203"  # rules/secrets.py
PROVIDER_MISSING = "AS204"  # rules/providers.py
BLOCK_NOT_FOR_PLATFORM = "AS205"  # rules/platform.py
CLOUD_MISMATCH = "AS206"  # rules/platform.py
DUPLICATE_NAME = "AS207"  # rules/references.py
CONSTRAINTS_FILE = "AS208"  # rules/providers.py
BLOCK_REQUIRED = "AS209"  # rules/platform.py
ISSUER_UNRESOLVED = "AS210"  # rules/aws.py
PIN_CONFLICT = "AS211"  # rules/providers.py
BAD_REQUIREMENT = "AS212"  # rules/providers.py
BAD_QUANTITY = "AS213"  # rules/platform.py
NODE_GROUP_SIZE = "AS214"  # rules/aws.py
UNKNOWN_COMPONENT = "AS215"  # rules/platform.py
SECRET_ID_PREFIX = "AS217"  # rules/gcp.py
LOCATION_REGION = "AS218"  # rules/gcp.py
SSM_PARAMETER_PATH = "AS219"  # rules/aws.py
NAME_LIMIT = "AS221"  # rules/names.py
SCHEDULING = "AS222"  # rules/scheduling.py
IDENTITY_MODE = "AS223"  # rules/aws.py
POLICY_SIZE = "AS224"  # rules/iam_size.py (phase "artifacts")
UNKNOWN_LOCATION = "AS230"  # rules/locations.py (phase "raw")
CHART_UNPINNED = "AS231"  # rules/platform.py
IMAGE_PACKAGES = "AS232"  # rules/providers.py (raised by the AS204 check)
INSTALL_CONFLICT = "AS233"  # rules/providers.py (raised by the AS204 check)
DAG_PROCESSOR_IDENTITY = "AS234"  # rules/providers.py


# The .airspecignore file (apply --dry-run).
IGNORE_NOT_A_LIST = declare(
    "AS401",
    "ignore-file-not-a-list",
    """An `.airspecignore` file is a YAML list of entries, one per accepted drift.

        - artifact: helm/values.yaml
          path: workers[0].replicas
          reason: the HPA owns replicas
    """,
)
IGNORE_BAD_ENTRY = declare(
    "AS402",
    "ignore-entry-invalid",
    """An `.airspecignore` entry lacks `artifact` or `reason`, has an unknown key, or a bad
    value (`expires` is a date, YYYY-MM-DD).

    Each entry needs `artifact` (as reported, glob patterns allowed) and `reason`; `path`,
    `spec` and `expires` are optional.
    """,
)
