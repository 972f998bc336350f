"""`kustomize build`, for the subset of kustomization fields deploy/k8s uses, in Python.

No kustomize binary installs from PyPI or npm, so the tests render the overlays here: the
fields below behave as kustomize documents them; any other field is refused, so a manifest
can't use something this renderer would silently ignore. Patches are RFC 6902 JSON patches
(the `jsonpatch` library) with a `target` of kind and/or name (a regex, as in kustomize).
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "replicas",
    "patches",
    "secretGenerator",
    "generatorOptions",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet"}


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not do, or is malformed."""


def build(directory: Path) -> list[dict[str, Any]]:
    """The resources of a kustomization directory, every transformation applied."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{directory}: fields not supported here: {sorted(unknown)}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources += build(path)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    resources += _generate_secrets(kustomization)
    for patch in kustomization.get("patches", []):
        _apply_patch(resources, patch)
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for container in _containers(resources):
            _set_image(container, image)
    for replicas in kustomization.get("replicas", []):
        matched = [r for r in resources if r["kind"] in SCALABLE and _name(r) == replicas["name"]]
        if not matched:
            raise KustomizeError(f"replicas: no workload named {replicas['name']}")
        for resource in matched:
            resource["spec"]["replicas"] = replicas["count"]
    return resources


def _name(resource: dict[str, Any]) -> str:
    return resource["metadata"]["name"]


def _generate_secrets(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    generators = kustomization.get("secretGenerator", [])
    options = kustomization.get("generatorOptions", {})
    if generators and options != {"disableNameSuffixHash": True}:
        # kustomize would add a content hash to the names and rewrite every reference.
        raise KustomizeError(
            "secretGenerator needs generatorOptions: {disableNameSuffixHash: true}"
        )
    secrets = []
    for generator in generators:
        if set(generator) - {"name", "literals"}:
            raise KustomizeError(f"secretGenerator {generator['name']}: only literals")
        data = {}
        for literal in generator["literals"]:
            key, _, value = literal.partition("=")
            data[key] = base64.b64encode(value.encode()).decode()
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "type": "Opaque",
                "data": data,
            }
        )
    return secrets


def _apply_patch(resources: list[dict[str, Any]], patch: dict[str, Any]) -> None:
    if set(patch) != {"target", "patch"} or set(patch["target"]) - {"kind", "name"}:
        raise KustomizeError(f"only JSON6902 patches with a kind/name target: {patch}")
    operations = jsonpatch.JsonPatch(yaml.safe_load(patch["patch"]))
    target = patch["target"]
    matched = 0
    for index, resource in enumerate(resources):
        if "kind" in target and resource["kind"] != target["kind"]:
            continue
        if "name" in target and not re.fullmatch(target["name"], _name(resource)):
            continue
        resources[index] = operations.apply(copy.deepcopy(resource))
        matched += 1
    if not matched:
        raise KustomizeError(f"patch matched nothing: {target}")


def _containers(resources: list[dict[str, Any]]):
    for resource in resources:
        spec = resource.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
        if template is None:
            continue
        pod = template["spec"]
        yield from pod.get("initContainers", [])
        yield from pod.get("containers", [])


def _set_image(container: dict[str, Any], image: dict[str, str]) -> None:
    name, tag = re.match(r"^([^:@]+)(.*)$", container["image"]).groups()
    if name != image["name"]:
        return
    new_name = image.get("newName", name)
    new_tag = f":{image['newTag']}" if "newTag" in image else tag
    container["image"] = new_name + new_tag
