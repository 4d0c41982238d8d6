"""Checks for the Kubernetes manifests in deploy/k8s: schemas (Kubernetes and the operators'
CRDs) and the platform's own rules. The manifests are read as rendered by `kubectl kustomize`.

Built-in kinds are validated with `kubernetes-validate`'s strict JSON Schemas (unknown fields are
errors, as with `kubectl apply --validate=strict`). Custom resources are validated against the
`openAPIV3Schema` of the operators' published CRDs, turned into JSON Schema the way the API server
reads it: structural schemas reject unknown fields unless `x-kubernetes-preserve-unknown-fields`,
`nullable` admits null, `x-kubernetes-int-or-string` admits both.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

type Resource = dict[str, Any]

KUBERNETES_VERSION = "1.33"
SERVICES = ("intake", "cases", "notifications", "reporting", "gateway")
# Services that relay an outbox (and notifications' webhook deliveries) under leases in their
# database: two replicas, so a lost pod is taken over, rolled one pod at a time.
LEASED = ("intake", "cases", "notifications", "reporting")
EXPOSED = {"gateway": "/", "notifications": "/partner/v1"}
# The cluster's Prometheus (another namespace) scrapes the collector's metrics port, nothing else.
SCRAPED = {"otel-collector": 8889}
PART_OF = "app.kubernetes.io/part-of"
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credential)")
_SECRET_VALUE = re.compile(
    r"(?i)(-----BEGIN|whsec_[A-Za-z0-9+/=]{8,}|eyJ[A-Za-z0-9_-]{10,}\.|://[^/@\s]+:[^/@\s]+@)"
)
_SHARED_ENV = re.compile(r"OTEL_[A-Z_]+|POD_NAME")


def name_of(resource: Resource) -> str:
    """`Kind/name` for messages."""
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


# --- schemas ---------------------------------------------------------------------------------


def crd_schemas(crds: Iterable[Resource]) -> dict[tuple[str, str], dict[str, Any]]:
    """(`group/version`, kind) -> JSON Schema, for every served version of the CRDs."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                schema = openapi_to_jsonschema(version["schema"]["openAPIV3Schema"])
                found[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return found


def openapi_to_jsonschema(node: Any) -> Any:
    """A CRD's structural OpenAPI v3 schema as a strict JSON Schema."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    maps = {"properties", "patternProperties"}  # name -> schema, not schemas themselves
    out = {
        key: openapi_to_jsonschema(value)
        for key, value in node.items()
        if not key.startswith("x-kubernetes-") and key not in {"nullable", "format", *maps}
    }
    for key in maps & node.keys():
        out[key] = {k: openapi_to_jsonschema(v) for k, v in node[key].items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


def schema_errors(
    resources: Sequence[Resource],
    custom: Mapping[tuple[str, str], dict[str, Any]],
    *,
    version: str = KUBERNETES_VERSION,
) -> list[str]:
    """Every schema violation; a kind that is neither built in nor a known CRD is one too."""
    import jsonschema  # type: ignore[import-untyped]
    import kubernetes_validate  # type: ignore[import-untyped]
    import kubernetes_validate.utils  # type: ignore[import-untyped]

    # kubernetes-validate parses its schema files (the definitions are megabytes) for every
    # resource; they never change while we run, so parse each once.
    if not hasattr(kubernetes_validate.utils.schema_contents, "cache_info"):
        cached = functools.cache(kubernetes_validate.utils.schema_contents)
        kubernetes_validate.utils.schema_contents = cached
    errors: list[str] = []
    for resource in resources:
        key = (str(resource.get("apiVersion")), str(resource.get("kind")))
        if key in custom:
            validator = jsonschema.Draft7Validator(custom[key])
            for error in sorted(validator.iter_errors(resource), key=str):
                path = "/".join(str(p) for p in error.absolute_path) or "<root>"
                errors.append(f"{name_of(resource)}: {path}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.path) or "<root>"
            errors.append(f"{name_of(resource)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name_of(resource)}: no schema for {key[0]} {key[1]}")
    return errors


# --- label selection -----------------------------------------------------------------------------


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects `labels`."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


# --- the platform's rules ----------------------------------------------------------------------


def rule_errors(
    resources: Sequence[Resource],
    settings_fields: Mapping[str, Iterable[str]],
    topics: Mapping[str, int],
) -> list[str]:
    """The platform's rules; `topics` maps every platform topic to its partition count."""
    by_kind: dict[str, list[Resource]] = {}
    for resource in resources:
        by_kind.setdefault(str(resource.get("kind")), []).append(resource)
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    errors: list[str] = []
    errors += _no_hand_made_stores(by_kind)
    for workload in workloads:
        errors += _pod_rules(workload)
    errors += _services_present(by_kind.get("Deployment", []), settings_fields)
    errors += _no_secret_literals(resources)
    errors += _network_policies(workloads, by_kind.get("NetworkPolicy", []))
    errors += _exposure(by_kind)
    errors += _replicas(by_kind)
    errors += _kafka_topics(by_kind.get("KafkaTopic", []), topics)
    errors += _mongodb_users(by_kind.get("MongoDBCommunity", []))
    return errors


def _no_hand_made_stores(by_kind: Mapping[str, list[Resource]]) -> list[str]:
    errors = [
        f"{name_of(r)}: Kafka and MongoDB come from their operators"
        for r in by_kind.get("StatefulSet", [])
    ]
    for kind in ("Kafka", "KafkaNodePool", "MongoDBCommunity"):
        if not by_kind.get(kind):
            errors.append(f"no {kind} resource")
    return errors


def _pod_rules(workload: Resource) -> list[str]:
    where = name_of(workload)
    pod = workload["spec"]["template"]["spec"]
    pod_sc = pod.get("securityContext") or {}
    errors = []
    if pod_sc.get("runAsNonRoot") is not True:
        errors.append(f"{where}: pod securityContext.runAsNonRoot must be true")
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        errors.append(f"{where}: host namespaces are not allowed")
    if pod.get("automountServiceAccountToken") is not False:
        errors.append(f"{where}: automountServiceAccountToken must be false")
    component = workload["metadata"].get("labels", {}).get("app.kubernetes.io/name")
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        c = f"{where}/{container['name']}"
        sc = container.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{c}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{c}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            errors.append(f"{c}: privileged is not allowed")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            errors.append(f"{c}: capabilities must drop ALL")
        if (sc.get("capabilities") or {}).get("add"):
            errors.append(f"{c}: no capability may be added")
        if sc.get("runAsNonRoot") is False or sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            errors.append(f"{c}: must not run as root")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            errors.append(f"{c}: seccompProfile must be RuntimeDefault")
        errors += _resources(c, container)
        errors += _probes(c, container, service=component in SERVICES)
        errors += _image(c, str(container.get("image", "")))
    return errors


def _resources(where: str, container: Resource) -> list[str]:
    res = container.get("resources") or {}
    return [
        f"{where}: resources.{part}.{what} missing"
        for part in ("requests", "limits")
        for what in ("cpu", "memory")
        if what not in (res.get(part) or {})
    ]


def _probes(where: str, container: Resource, *, service: bool) -> list[str]:
    errors = []
    for probe, path in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
        found = container.get(probe)
        if not found:
            errors.append(f"{where}: no {probe}")
        elif service and (found.get("httpGet") or {}).get("path") != path:
            errors.append(f"{where}: {probe} must GET {path}")
    return errors


def _image(where: str, image: str) -> list[str]:
    if "@sha256:" in image:
        return []
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    if not tag or tag == "latest" or not re.search(r"\d", tag):
        return [f"{where}: image {image or '<none>'} is not pinned to a version"]
    return []


def _services_present(
    deployments: Sequence[Resource], settings_fields: Mapping[str, Iterable[str]]
) -> list[str]:
    errors = []
    by_name = {d["metadata"]["name"]: d for d in deployments}
    for service, fields in settings_fields.items():
        deployment = by_name.get(service)
        if deployment is None:
            errors.append(f"{service}: no Deployment")
            continue
        known = {f.upper() for f in fields}
        prefix = f"{service.upper()}_"
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for var in container.get("env") or []:
                name = var["name"]
                if _SHARED_ENV.fullmatch(name):
                    continue
                if not name.startswith(prefix) or name.removeprefix(prefix) not in known:
                    errors.append(f"{service}: {name} is not a setting of the {service} service")
            if container.get("envFrom"):
                errors.append(f"{service}: envFrom hides which settings are set; name each one")
    return errors


def _no_secret_literals(resources: Sequence[Resource]) -> list[str]:
    errors = []
    for resource in resources:
        where = name_of(resource)
        if resource.get("kind") == "Secret":
            errors.append(f"{where}: Secrets are created in the cluster, never kept in manifests")
        if resource.get("kind") == "ConfigMap":
            for key, value in (resource.get("data") or {}).items():
                if _SECRET_VALUE.search(str(value)) or _SECRET_NAME.search(key):
                    errors.append(f"{where}: {key} looks like a secret; use a Secret")
        for path, key, value in _walk(resource.get("spec"), "spec"):
            if key == "value" and isinstance(value, str) and _SECRET_VALUE.search(value):
                errors.append(f"{where}: {path} holds a secret literal")
        for container in _containers(resource):
            for var in container.get("env") or []:
                secretish = _SECRET_NAME.search(var["name"]) and not var["name"].endswith("_FILE")
                if "value" in var and (secretish or _SECRET_VALUE.search(str(var["value"]))):
                    errors.append(
                        f"{where}: {var['name']} is a literal; take it from a Secret (secretKeyRef)"
                    )
    return errors


def _containers(resource: Resource) -> list[Resource]:
    if resource.get("kind") not in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return []
    pod = resource["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _walk(node: Any, path: str) -> Iterable[tuple[str, str | None, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _walk(value, f"{path}/{key}")
            else:
                yield f"{path}/{key}", str(key), value
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def _network_policies(workloads: Sequence[Resource], policies: Sequence[Resource]) -> list[str]:
    errors = []
    for workload in workloads:
        labels = workload["spec"]["template"]["metadata"].get("labels") or {}
        selecting = [p for p in policies if selects(p["spec"].get("podSelector") or {}, labels)]
        deny = [
            p
            for p in selecting
            if {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes") or [])
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        if not deny:
            errors.append(f"{name_of(workload)}: no default-deny NetworkPolicy selects its pods")
        name = labels.get("app.kubernetes.io/name")
        for policy in selecting:
            for rule in policy["spec"].get("ingress") or []:
                peers = rule.get("from") or [{}]
                outside = any("namespaceSelector" in p or "ipBlock" in p for p in peers)
                ports = [q.get("port") for q in rule.get("ports") or []]
                scrape = (
                    name in SCRAPED
                    and not any("ipBlock" in p for p in peers)
                    and ports == [SCRAPED[str(name)]]
                )
                if outside and name not in EXPOSED and not scrape:
                    errors.append(
                        f"{name_of(policy)}: admits traffic from outside the namespace to {name}"
                    )
            for rule in policy["spec"].get("egress") or []:
                for peer in rule.get("to") or [{}]:
                    if "ipBlock" in peer and name != "notifications":
                        errors.append(f"{name_of(policy)}: {name} may not reach addresses outside")
                    if not peer and name in SERVICES:
                        errors.append(f"{name_of(policy)}: {name} may reach anything")
        if name in SERVICES:
            errors += _service_egress(name, selecting)
    return errors


def _service_egress(name: str, policies: Sequence[Resource]) -> list[str]:
    peers = [
        peer.get("podSelector") or {}
        for p in policies
        for rule in p["spec"].get("egress") or []
        for peer in rule.get("to") or []
        if "podSelector" in peer and "namespaceSelector" not in peer
    ]
    wanted = {
        "Kafka": {"strimzi.io/cluster": "alamal", "strimzi.io/kind": "Kafka"},
        "MongoDB": {"app": "alamal-mongodb-svc"},
        "the collector": {"app.kubernetes.io/name": "otel-collector", PART_OF: "alamal"},
    }
    return [
        f"{name}: no NetworkPolicy lets it reach {what}"
        for what, target in wanted.items()
        if not any(selects(peer, target) for peer in peers)
    ]


def _exposure(by_kind: Mapping[str, list[Resource]]) -> list[str]:
    errors = [
        f"{name_of(s)}: type {s['spec'].get('type')}; only an Ingress exposes the platform"
        for s in by_kind.get("Service", [])
        if s["spec"].get("type", "ClusterIP") != "ClusterIP"
    ]
    for ingress in by_kind.get("Ingress", []):
        for rule in ingress["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = path["backend"]["service"]["name"]
                allowed = EXPOSED.get(backend)
                if allowed is None or not str(path.get("path", "/")).startswith(allowed):
                    errors.append(f"{name_of(ingress)}: exposes {backend} {path.get('path')}")
    return errors


def _replicas(by_kind: Mapping[str, list[Resource]]) -> list[str]:
    errors = []
    for deployment in by_kind.get("Deployment", []):
        name = deployment["metadata"]["name"]
        if name in LEASED:
            if deployment["spec"].get("replicas", 1) < 2:
                errors.append(
                    f"{name}: one replica; run two so a lost pod's relay lease is taken over"
                )
            if (deployment["spec"].get("strategy") or {}).get("type") == "Recreate":
                errors.append(f"{name}: Recreate stops every replica at once; roll the update")
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]["name"]
        if "replicas" in (deployments.get(target) or {}).get("spec", {}):
            errors.append(f"{target}: sets replicas, which every apply would reset under its HPA")
    return errors


def _kafka_topics(resources: Sequence[Resource], topics: Mapping[str, int]) -> list[str]:
    declared = {(r["spec"].get("topicName") or r["metadata"]["name"]): r for r in resources}
    errors = [f"topic {t} has no KafkaTopic" for t in sorted(set(topics) - set(declared))]
    errors += [f"KafkaTopic {t} is no platform topic" for t in sorted(set(declared) - set(topics))]
    for topic, partitions in topics.items():
        found = declared.get(topic)
        if found is not None and found["spec"].get("partitions", 0) < partitions:
            errors.append(f"KafkaTopic {topic}: fewer than the {partitions} partitions expected")
    return errors


def _mongodb_users(resources: Sequence[Resource]) -> list[str]:
    errors = []
    for mongo in resources:
        users = {u["name"]: u for u in mongo["spec"].get("users") or []}
        for service in SERVICES:
            user = users.get(service)
            database = f"alamal_{service}"
            if user is None:
                errors.append(f"{name_of(mongo)}: no user for {service}")
                continue
            roles = {(r["name"], r["db"]) for r in user.get("roles") or []}
            if roles != {("readWrite", database)}:
                errors.append(f"{name_of(mongo)}: {service} may use only {database} (readWrite)")
            if "passwordSecretRef" not in user:
                errors.append(f"{name_of(mongo)}: {service}'s password must come from a Secret")
    return errors
