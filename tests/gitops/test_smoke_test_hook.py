"""The PostSync hook that verifies a prod deployment inside the cluster (base/smoke-test-job.yaml).

Argo CD runs a PostSync hook after the synced resources are Healthy and fails the sync when it fails
(https://argo-cd.readthedocs.io/en/release-3.4/user-guide/resource_hooks/). These tests check that the Job
smoke-tests the engine this sync deployed (same image, same pin, its Service), that the namespace's
network policies let it through and nothing else, that it passes the restricted Pod Security Standard the
namespace enforces, and that it never becomes part of the engine's Service or disruption budget.
"""

from __future__ import annotations

import shlex

import pytest

from estimation_engine.cli import _parser as engine_cli
from model_contract.pins import ENVIRONMENTS

JOB = "estimation-engine-smoke-test"
# https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}  # fmt: skip


def _one(objects: list[dict], kind: str, name: str) -> dict:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _pod(objects: list[dict], kind: str, name: str) -> dict:
    return _one(objects, kind, name)["spec"]["template"]


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_job_is_a_postsync_hook_recreated_on_every_sync(env, rendered_objects):
    job = _one(rendered_objects[env], "Job", JOB)
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    # A named hook is created only once unless BeforeHookCreation deletes the previous run first.
    assert "BeforeHookCreation" in annotations["argocd.argoproj.io/hook-delete-policy"].split(",")
    spec = job["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never" and spec["backoffLimit"] <= 2
    args = spec["template"]["spec"]["containers"][0]["args"]
    wait = float(args[args.index("--wait") + 1])
    assert wait * (spec["backoffLimit"] + 1) < spec["activeDeadlineSeconds"], (
        "a hung engine must fail the Job"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_job_smoke_tests_the_deployed_engine_through_its_service(env, rendered_objects):
    objects = rendered_objects[env]
    smoke = _pod(objects, "Job", JOB)["spec"]["containers"][0]
    engine = _pod(objects, "Deployment", "estimation-engine")["spec"]["containers"][0]
    assert smoke["image"] == engine["image"], "the smoke test runs the image this sync deployed"
    model_configmap = next(
        e for e in engine["envFrom"] if e["configMapRef"]["name"].startswith("estimation-engine-model")
    )
    assert smoke["envFrom"] == [model_configmap], (
        "it expects the model this sync pinned (MODEL_NAME/MODEL_VERSION)"
    )
    arguments = engine_cli().parse_args(
        smoke["args"]
    )  # the image's entrypoint is `python -m estimation_engine`
    service = _one(objects, "Service", "estimation-engine")
    [port] = service["spec"]["ports"]
    assert arguments.url == f"http://{service['metadata']['name']}:{port['port']}", shlex.join(smoke["args"])
    assert arguments.run.__name__ == "_smoke" and arguments.expect_version is None  # from the ConfigMap


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_engines_pods_serve_and_count_for_disruptions(env, rendered_objects):
    objects = rendered_objects[env]
    engine_labels = _pod(objects, "Deployment", "estimation-engine")["metadata"]["labels"]
    smoke_labels = _pod(objects, "Job", JOB)["metadata"]["labels"]
    selectors = {
        "Service": _one(objects, "Service", "estimation-engine")["spec"]["selector"],
        "PodDisruptionBudget": _one(objects, "PodDisruptionBudget", "estimation-engine")["spec"]["selector"][
            "matchLabels"
        ],
        "Deployment": _one(objects, "Deployment", "estimation-engine")["spec"]["selector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert _matches(selector, engine_labels), kind
        assert not _matches(selector, smoke_labels), f"the {kind} would select the smoke test's pod"


class Network:
    """NetworkPolicy semantics within one namespace: a connection needs the source's egress and the
    destination's ingress allowed, each by any policy selecting that pod (policies are additive; a pod no
    policy selects for a direction is unrestricted in it)."""

    def __init__(self, objects: list[dict], namespace_labels: dict[str, dict]) -> None:
        self.policies = [o["spec"] for o in objects if o["kind"] == "NetworkPolicy"]
        self.namespace_labels = namespace_labels

    def allowed(self, source: dict, destination: dict, port: int, protocol: str = "TCP") -> bool:
        return self._direction(source, "Egress", destination, port, protocol) and self._direction(
            destination, "Ingress", source, port, protocol
        )

    def _direction(self, pod: dict, direction: str, peer: dict, port: int, protocol: str) -> bool:
        if pod["namespace"] != "estimation-engine":  # the policies here govern this namespace's pods only
            return True
        selecting = [
            p
            for p in self.policies
            if direction in p["policyTypes"]
            and _matches(p["podSelector"].get("matchLabels", {}), pod["labels"])
        ]
        if not selecting:
            return True
        key, peers_key = direction.lower(), "to" if direction == "Egress" else "from"
        return any(
            self._rule_allows(rule, peers_key, peer, port, protocol)
            for policy in selecting
            for rule in policy.get(key, [])
        )

    def _rule_allows(self, rule: dict, peers_key: str, peer: dict, port: int, protocol: str) -> bool:
        ports = rule.get("ports")
        if ports and not any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports):
            return False
        peers = rule.get(peers_key)
        return not peers or any(self._peer_matches(entry, peer) for entry in peers)

    def _peer_matches(self, entry: dict, peer: dict) -> bool:
        if "ipBlock" in entry:
            return peer.get("ip") is not None and not any(
                peer["ip"] == e.split("/")[0] for e in entry["ipBlock"].get("except", [])
            )
        namespace = entry.get("namespaceSelector")
        if namespace is not None and not _matches(
            namespace.get("matchLabels", {}), self.namespace_labels[peer["namespace"]]
        ):
            return False
        if namespace is None and peer["namespace"] != "estimation-engine":
            return False
        return _matches(entry.get("podSelector", {}).get("matchLabels", {}), peer["labels"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_network_lets_the_job_reach_the_engine_and_dns_only(env, rendered_objects):
    objects = rendered_objects[env]
    namespaces = {"estimation-engine": {"kubernetes.io/metadata.name": "estimation-engine"},
                  "kube-system": {"kubernetes.io/metadata.name": "kube-system"}}  # fmt: skip
    network = Network(objects, namespaces)
    smoke = {
        "labels": _pod(objects, "Job", JOB)["metadata"]["labels"],
        "namespace": "estimation-engine",
        "ip": None,
    }
    engine = {
        "labels": _pod(objects, "Deployment", "estimation-engine")["metadata"]["labels"],
        "namespace": "estimation-engine",
        "ip": "10.244.1.7",
    }
    dns = {"labels": {"k8s-app": "kube-dns"}, "namespace": "kube-system", "ip": "10.0.0.10"}
    internet = {"labels": {}, "namespace": "internet", "ip": "20.50.2.1"}
    assert network.allowed(smoke, engine, 8080)
    assert network.allowed(smoke, dns, 53, "UDP") and network.allowed(smoke, dns, 53, "TCP")
    assert not network.allowed(smoke, internet, 443), "the smoke test needs nothing outside the cluster"
    assert not network.allowed(smoke, engine, 9090)
    assert not network.allowed(engine, smoke, 8080), "nothing may connect to the smoke test"
    assert network.allowed(engine, internet, 443), "the engine still reaches its registry"


def restricted_violations(pod: dict) -> list[str]:
    """What the restricted Pod Security Standard (the namespace enforces it) refuses in a pod spec."""
    spec, problems = pod["spec"], []
    pod_context = spec.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(field)
    problems += [
        f"volume {v['name']}" for v in spec.get("volumes", []) if not set(v) - {"name"} <= RESTRICTED_VOLUMES
    ]
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        context, name = container.get("securityContext", {}), container["name"]
        capabilities = context.get("capabilities", {})
        checks = {
            "privileged": not context.get("privileged", False),
            "allowPrivilegeEscalation": context.get("allowPrivilegeEscalation") is False,
            "runAsNonRoot": context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True,
            "runAsUser": context.get("runAsUser", pod_context.get("runAsUser", 1)) != 0,
            "seccompProfile": context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
            in ("RuntimeDefault", "Localhost"),
            "capabilities.drop": "ALL" in capabilities.get("drop", []),
            "capabilities.add": set(capabilities.get("add", [])) <= {"NET_BIND_SERVICE"},
            "hostPort": not any(p.get("hostPort") for p in container.get("ports", [])),
        }
        problems += [f"{name}: {check}" for check, ok in checks.items() if not ok]
    return problems


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_pod_passes_the_restricted_pod_security_standard(env, rendered_objects):
    pods = [o["spec"]["template"] for o in rendered_objects[env] if o["kind"] in ("Deployment", "Job")]
    assert len(pods) == 2
    assert [restricted_violations(pod) for pod in pods] == [[], []]


def test_the_restricted_check_refuses_a_root_container_with_privilege_escalation(rendered_objects):
    pod = _pod(rendered_objects["prod"], "Job", JOB)
    broken = {
        "spec": {**pod["spec"], "containers": [{**pod["spec"]["containers"][0], "securityContext": {}}]}
    }
    assert {"smoke-test: allowPrivilegeEscalation", "smoke-test: capabilities.drop"} <= set(
        restricted_violations(broken)
    )
