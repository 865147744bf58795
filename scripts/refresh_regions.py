"""Refresh compiler/airspec/regions.json, the vendored AWS and GCP location lists.

AWS: every partition's regions from botocore's `data/partitions.json` (the botocore in this
environment, i.e. the version uv.lock pins; `uv lock --upgrade-package botocore` first to take
newer regions). Pseudo-regions such as `aws-global` are left out.

GCP: zones (and so regions) from the output of
`gcloud compute zones list --format=json` (any project, read-only), given as a file:

    gcloud compute zones list --format=json > /tmp/zones.json
    .venv/bin/python scripts/refresh_regions.py --gcp-zones /tmp/zones.json

Without --gcp-zones the GCP part is kept as it is. Review the diff and commit it; the test
`test_regions.py` fails when the AWS part and the locked botocore disagree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent / "compiler" / "airspec" / "regions.json"


def aws_partitions() -> dict[str, Any]:
    """{partition: {dnsSuffix, regions}} from the installed botocore."""
    import botocore

    data = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    out: dict[str, Any] = {}
    for part in data["partitions"]:
        regions = sorted(r for r in part["regions"] if not r.endswith("-global"))
        out[part["id"]] = {"dnsSuffix": part["outputs"]["dnsSuffix"], "regions": regions}
    return {"source": f"botocore {botocore.__version__} data/partitions.json", "partitions": out}


def gcp_zones(zones_json: Path) -> dict[str, list[str]]:
    """{region: [zone letters]} from `gcloud compute zones list --format=json`; AI zones
    (`us-west4-ai2b`) are left out."""
    out: dict[str, list[str]] = {}
    for zone in json.loads(zones_json.read_text()):
        name = zone["name"]
        region, _, letter = name.rpartition("-")
        if len(letter) == 1:
            out.setdefault(region, []).append(letter)
    return {r: sorted(z) for r, z in sorted(out.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gcp-zones", type=Path, help="gcloud compute zones list --format=json")
    parser.add_argument("--gcp-source", default="gcloud compute zones list")
    args = parser.parse_args(argv)
    current = json.loads(HERE.read_text()) if HERE.exists() else {}
    doc = {"aws": aws_partitions(), "gcp": current.get("gcp", {})}
    if args.gcp_zones:
        doc["gcp"] = {"source": args.gcp_source, "regions": gcp_zones(args.gcp_zones)}
    HERE.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"wrote {HERE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
