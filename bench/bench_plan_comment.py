"""The plan comment's time against the size of one live value (issue 26, hostile finding 6).

Run by hand from the repository root: `.venv/bin/python bench/bench_plan_comment.py`. For a
plan of three actions on ConfigMaps (the last one deletes) whose live value is N characters,
it prints the time of `plan_markdown` and, side by side in the same run, the time of one pass
of the redactor's URL-userinfo rule as it is and as it was first written (the quadratic one:
a scheme tried at every character of a long run), on the same N characters. Linear means the
comment's time grows as N does (x2 size, about x2 time), not as N squared. The reference is
only timed up to 40,000 characters (it takes seconds there). No timed test: figures for the
reader.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from airspec.apply.redact import _URL_USERINFO
from airspec.apply.render_plan import plan_markdown
from test_plan_hostile import long_value_plan  # the plan the test renders

REFERENCE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    print(f"{'value chars':>12} {'comment s':>10} {'URL rule s':>11} {'reference s':>12}")
    for size in (10_000, 20_000, 40_000, 80_000, 160_000, 1_000_000):
        value = "x" * size
        comment = timed(plan_markdown, long_value_plan(value))
        rule = timed(_URL_USERINFO.sub, "", value)
        ref = f"{timed(REFERENCE.sub, '', value):12.3f}" if size <= 40_000 else f"{'-':>12}"
        print(f"{size:>12,} {comment:10.3f} {rule:11.4f} {ref}")


if __name__ == "__main__":
    main()
