"""Lower each Remote Execution component's Python environment to `python/environments.json`.

What a reviewer needs to see of the pods as deployed: per image, its package list's source,
its Python and Airflow, and the exact closure airspec installs into it (each with what
requires it); per component, the image it runs and, for every class its configuration
imports, the distribution that ships it and whether that comes from the image or the
install. The installs never name a distribution the image holds.
"""

from __future__ import annotations

from typing import Any

from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.resolved import ResolvedSpec

PATH = "python/environments.json"


def python_environments(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """python/environments.json for Remote Execution specs."""
    if not r.environments:
        return []
    providers = r.spec.deployment.providers
    images: dict[str, Any] = {}
    components = []
    for env in r.environments:
        image = env.image
        images.setdefault(
            image.ref,
            {
                "packages": image.source,
                "python": image.python,
                "airflow": str(image.airflow) if image.airflow is not None else None,
                "installs": [
                    {"requirement": f"{n}=={v}", "requiredBy": env.closure.why.get(n, "")}
                    for n, v in env.closure.installs
                ],
            },
        )
        components.append(
            {
                "component": env.component.name,
                "image": image.ref,
                "classes": [
                    {
                        "class": need.path,
                        "what": need.what,
                        "distribution": need.distribution,
                        "from": source,
                    }
                    for need, source in env.classes
                ],
            }
        )
    content: dict[str, Any] = {
        "apiVersion": "airspec/v1",
        "kind": "PythonEnvironments",
        "install": providers.install if providers else "init-container",
        "images": images,
        "components": components,
    }
    if r.built_image is not None:
        content["builtImage"] = r.built_image
    return [Artifact(PATH, ArtifactKind.PYTHON_ENVIRONMENTS, "json", content)]
