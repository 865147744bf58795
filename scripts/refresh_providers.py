"""Refresh the provider data airspec computes installs from, using the package index.

Run by hand from the repository root (it downloads wheels; compile never touches the network):

    .venv/bin/python scripts/refresh_providers.py
    .venv/bin/python scripts/refresh_providers.py --image-packages specs/images/my-image.txt --python 3.12

Without options it refreshes every known image in `compiler/airspec/data/known-images.json`:
for each, the supported provider requirements (`supported` in that file) are resolved by
`uv pip compile` for the image's Python on manylinux x86_64, with the image's `pip freeze`
(`packages`) as constraints (local `+astro` versions mapped to their public base, so the
resolution keeps every distribution the image has). The newest provider versions that fit are
written back as the image's `providers` (the tested versions: `airspec init` writes them, the
as-deployed conformance tier installs them). Every resolved distribution the image does not
have, and each requested one, is then downloaded (`pip download --no-deps --only-binary=:all:`,
so a distribution with no wheel for the image fails here, not at pod start) and its
`Requires-Dist` / `Requires-Python` are stored in `compiler/airspec/data/distributions.json`,
the pool the compile-time resolver picks versions from.

With `--image-packages FILE` (the `pip freeze` of another image, as `deployment.imagePackages`
names it) the same is done for that image, and the metadata is written beside it as
`FILE.metadata.json`, which compile reads with the vendored pool.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "compiler" / "airspec" / "data"
INDEX = "https://pypi.org/simple"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
UV = ROOT / ".venv" / "bin" / "uv"


def image_pins(freeze: str) -> dict[str, str]:
    """`name==version` lines of a freeze, local versions mapped to their public base."""
    pins: dict[str, str] = {}
    for line in freeze.splitlines():
        body = line.split("#", 1)[0].strip()
        if not body or " @ " in body or body.startswith("-"):
            continue
        req = Requirement(body)
        (spec,) = req.specifier
        pins[canonicalize_name(req.name)] = Version(spec.version).public
    return pins


def _isolated_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip.conf must not steer the index
    return env


def resolve(requests: list[str], pins: dict[str, str], python: str, tmp: Path) -> dict[str, str]:
    """{canonical name: version} that pip would install for `requests` next to `pins`."""
    constraints = tmp / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    wanted = tmp / "requests.in"
    wanted.write_text("".join(f"{r}\n" for r in requests))
    overrides = tmp / "overrides.txt"
    # mysqlclient has no wheel and builds only against the MySQL client library; the image's
    # mysql provider pulls it in, no supported provider needs it
    overrides.write_text("mysqlclient; sys_platform == 'never'\n")
    out = subprocess.run(
        [
            str(UV), "pip", "compile", "--no-config", "--quiet", "--no-header", "--no-annotate",
            "--index-url", INDEX, "--python-version", python,
            "--python-platform", "x86_64-manylinux_2_28",
            "--constraints", str(constraints), "--override", str(overrides), str(wanted),
        ],
        check=True, capture_output=True, text=True, env=_isolated_env(),
    ).stdout  # fmt: skip
    resolved = {}
    for line in out.splitlines():
        if "==" in line:
            name, version = line.strip().split("==")
            resolved[canonicalize_name(name)] = version
    return resolved


def metadata(dists: dict[str, str], python: str, tmp: Path) -> dict[str, dict[str, object]]:
    """Requires-Dist and Requires-Python of each `name==version`, from its wheel."""
    target = tmp / "wheels"
    platform_flags = [flag for p in PLATFORMS for flag in ("--platform", p)]
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--isolated", "--quiet", "--no-deps",
            "--only-binary=:all:", "--index-url", INDEX, "--python-version", python,
            "--implementation", "cp", "--abi", "cp" + python.replace(".", ""), *platform_flags,
            "--dest", str(target), *(f"{n}=={v}" for n, v in sorted(dists.items())),
        ],
        check=True, env=_isolated_env(),
    )  # fmt: skip
    found: dict[str, dict[str, object]] = {}
    for wheel in sorted(target.glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            meta = Parser().parsestr(z.read(name).decode("utf-8"))
        found[canonicalize_name(meta["Name"])] = {
            "version": meta["Version"],
            "requires_dist": sorted(meta.get_all("Requires-Dist") or []),
            "requires_python": meta.get("Requires-Python") or "",
        }
    missing = set(dists) - set(found)
    if missing:
        raise SystemExit(f"no wheel downloaded for {sorted(missing)}")
    return found


def _extras_on(found: dict[str, dict[str, object]], names: set[str]) -> set[str]:
    """Distributions among `names` that a recorded requirement asks for with extras."""
    wanted = set()
    for meta in found.values():
        for text in meta["requires_dist"]:  # type: ignore[attr-defined]
            req = Requirement(text)
            if req.extras and canonicalize_name(req.name) in names:
                wanted.add(canonicalize_name(req.name))
    return wanted


def refresh(
    freeze: str, requests: list[str], python: str
) -> tuple[dict[str, str], dict[str, dict[str, object]]]:
    """(requested provider -> newest fitting version, metadata of what the image lacks, of
    what is requested, and of every image distribution something asks for with extras: the
    extras' requirements are installed too)."""
    pins = image_pins(freeze)
    with tempfile.TemporaryDirectory() as tmp:
        resolved = resolve(requests, pins, python, Path(tmp))
        requested = {canonicalize_name(Requirement(r).name) for r in requests}
        wanted = {n: v for n, v in resolved.items() if n not in pins or n in requested}
        found = metadata(wanted, python, Path(tmp) / "1")
        for round_ in range(2, 10):
            more = {n: resolved[n] for n in _extras_on(found, set(resolved)) if n not in found}
            if not more:
                break
            found |= metadata(more, python, Path(tmp) / str(round_))
        return {n: resolved[n] for n in sorted(requested)}, found


def _merge(pool: dict[str, dict[str, object]], found: dict[str, dict[str, object]]) -> None:
    for name, meta in found.items():
        versions = pool.setdefault(name, {})
        assert isinstance(versions, dict)
        versions[str(meta["version"])] = {
            "requires_dist": meta["requires_dist"],
            "requires_python": meta["requires_python"],
        }


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-packages", type=Path, help="the pip freeze of another image")
    parser.add_argument("--python", default="3.12", help="that image's Python (X.Y)")
    args = parser.parse_args()
    known_path = DATA / "known-images.json"
    known = json.loads(known_path.read_text())
    if args.image_packages is not None:
        _, found = refresh(args.image_packages.read_text(), known["supported"], args.python)
        pool: dict[str, dict[str, object]] = {}
        _merge(pool, found)
        out = args.image_packages.with_name(args.image_packages.name + ".metadata.json")
        _write_json(out, pool)
        print(f"wrote {out} ({len(pool)} distributions)")
        return
    pool = {}
    for ref, image in sorted(known["images"].items()):
        freeze = (DATA / image["packages"]).read_text()
        providers, found = refresh(freeze, known["supported"], image["python"])
        image["providers"] = providers
        _merge(pool, found)
        print(f"{ref}: {len(found)} distributions, providers {providers}")
    _write_json(known_path, known)
    _write_json(DATA / "distributions.json", pool)


if __name__ == "__main__":
    main()
