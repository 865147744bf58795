"""Exit codes (DESIGN.md), decided only by `exit_code`."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    ERROR = 1  # usage, spec or live-read error; a refusal that needs a person
    PENDING = 2  # out/ is stale
    DRIFT = 3  # drift found (dry run), or left for the user (apply)
    PENDING_AND_DRIFT = 4  # a dry run of a stale out/ that also found drift
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


def exit_code(
    *, error: bool = False, pending: bool = False, drift: bool = False, interrupted: bool = False
) -> Exit:
    if interrupted:
        return Exit.INTERRUPTED
    if error:
        return Exit.ERROR
    if pending and drift:
        return Exit.PENDING_AND_DRIFT
    if pending:
        return Exit.PENDING
    if drift:
        return Exit.DRIFT
    return Exit.OK
