"""The two deployment platforms and the components whose service accounts they create."""

from __future__ import annotations

REMOTE = "astro-remote-execution"
SOFTWARE = "astronomer-software"

# component -> service account name suffix. Remote Execution: the chart's serviceAccount keys,
# named <resourceNamePrefix>-<suffix>. Software: the accounts the platform creates in
# astronomer-<release>, named <release>-<component>.
SA_SUFFIX: dict[str, dict[str, str]] = {
    REMOTE: {"workers": "worker", "triggerer": "triggerer", "dagProcessor": "dag-processor"},
    SOFTWARE: {
        c: c
        for c in (
            "worker",
            "scheduler",
            "triggerer",
            "webserver",
            "cleanup",
            "migrate-database-job",
        )
    },
}
COMPONENTS: dict[str, tuple[str, ...]] = {p: tuple(s) for p, s in SA_SUFFIX.items()}
DEFAULT_CLOUD_ACCESS: dict[str, tuple[str, ...]] = {
    REMOTE: ("workers", "triggerer"),
    SOFTWARE: ("worker", "scheduler", "triggerer", "webserver"),
}
