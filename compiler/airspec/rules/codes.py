"""Codes raised by the loader and the schema stage (spec rules register in their modules).

AS0xx: the file and its YAML. AS1xx: the shape of the spec (schema). AS2xx: meaning (rules).
"""

from airspec.rules.registry import declare

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
    """The spec uses a YAML feature a spec does not allow: a custom tag (`!Ref`),
    a non-scalar mapping key, or a merge key that does not name a mapping.""",
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
