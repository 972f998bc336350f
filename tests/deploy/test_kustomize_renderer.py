"""The tests' kustomize renderer does what kustomize does for the fields deploy/k8s uses."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from tests.deploy.kustomize import KustomizeError, build

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "c", "image": "web-image"}]}},
    },
}
JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "web-migrate"},
    "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "web-image:old"}]}}},
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}


def write(directory: Path, kustomization: dict, **files: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    for name, docs in files.items():
        (directory / name).write_text(yaml.safe_dump_all(docs))
    return directory


def test_an_overlay_renders_its_base_transformed(tmp_path: Path) -> None:
    write(tmp_path / "base", {"resources": ["app.yaml"]}, **{"app.yaml": [DEPLOYMENT, JOB]})
    overlay = write(
        tmp_path / "overlay",
        {
            "namespace": "team",
            "resources": ["ns.yaml", "../base"],
            "images": [{"name": "web-image", "newName": "registry/web", "newTag": "1.2"}],
            "replicas": [{"name": "web", "count": 5}],
            "patches": [
                {
                    "target": {"kind": "Deployment", "name": "w.*"},
                    "patch": "- {op: add, path: /metadata/labels, value: {tier: front}}",
                }
            ],
            "generatorOptions": {"disableNameSuffixHash": True},
            "secretGenerator": [{"name": "creds", "literals": ["password=s3cret=x"]}],
        },
        **{"ns.yaml": [NAMESPACE]},
    )
    namespace, deployment, job, secret = build(overlay)
    assert namespace == NAMESPACE  # cluster-scoped: no namespace set on it
    assert deployment["metadata"] == {
        "name": "web",
        "namespace": "team",
        "labels": {"tier": "front"},
    }
    assert deployment["spec"]["replicas"] == 5
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry/web:1.2"
    assert job["metadata"] == {
        "name": "web-migrate",
        "namespace": "team",
    }  # the patch's regex is anchored
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry/web:1.2"
    assert secret["metadata"] == {"name": "creds", "namespace": "team"}
    assert base64.b64decode(secret["data"]["password"]) == b"s3cret=x"
    assert DEPLOYMENT["spec"]["replicas"] == 2  # the base's objects are not changed in place


def test_a_tag_only_image_keeps_the_name(tmp_path: Path) -> None:
    overlay = write(
        tmp_path,
        {"resources": ["app.yaml"], "images": [{"name": "web-image", "newTag": "dev"}]},
        **{"app.yaml": [JOB]},
    )
    [job] = build(overlay)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "web-image:dev"


@pytest.mark.parametrize(
    "kustomization",
    [
        {"resources": ["app.yaml"], "commonLabels": {"a": "b"}},
        {"resources": ["app.yaml"], "secretGenerator": [{"name": "s", "literals": ["a=b"]}]},
        {"resources": ["app.yaml"], "patches": [{"path": "patch.yaml"}]},
        {"resources": ["app.yaml"], "patches": [{"target": {"kind": "Service"}, "patch": "[]"}]},
        {"resources": ["app.yaml"], "replicas": [{"name": "nope", "count": 1}]},
    ],
)
def test_what_it_does_not_do_is_refused(tmp_path: Path, kustomization: dict) -> None:
    with pytest.raises(KustomizeError):
        build(write(tmp_path, kustomization, **{"app.yaml": [DEPLOYMENT]}))
