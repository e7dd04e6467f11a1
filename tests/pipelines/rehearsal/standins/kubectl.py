"""Stand-in for kubectl (on hosted agents): needs a kubeconfig, signs in through its exec plugin, is
authorized by the principal's Azure RBAC grants, and answers ``get`` from the scenario's cluster objects.

Scenario: ``{"kubernetes": {"<namespace>": {"<resource>": {"<name>": object | [object, ...]}}}}``; a list
answers successive gets in turn (its last element thereafter), so a test can play a rollout's progress.
"""

from __future__ import annotations

import json

from common import RefusedError, dump_yaml, option, positional, read_json, run, scenario, write_json
from kube import RESOURCES, authorize, load_kubeconfig, namespace, sign_in


def main(argv: list[str], details: dict) -> int:
    words = positional(argv, ("--namespace", "-n", "--output", "-o", "--kubeconfig", "--context"))
    if words[:1] == ["version"] and "--client" in argv:
        print("Client Version: v1.33.0")
        return 0
    path, config = load_kubeconfig(argv)
    if words[:2] == ["config", "set-context"] and "--current" in argv:
        ns = next((a.split("=", 1)[1] for a in argv if a.startswith("--namespace=")), None)
        for context in config["contexts"]:
            if context["name"] == config["current-context"] and ns:
                context["context"]["namespace"] = ns
        path.write_text(dump_yaml(config))
        return 0
    if words[:1] != ["get"] or len(words) < 2:
        raise RefusedError(f"the rehearsal's kubectl does not model `kubectl {' '.join(words[:2])}`")
    resource, name = _target(words[1:])
    principal = sign_in(config)
    details["identity"] = principal
    ns = namespace(argv, config)
    authorize(principal, "get" if name else "list", resource, ns, name)
    found = _answer(ns, resource, name)
    print(json.dumps(found, indent=1) if option(argv, "--output", "-o") == "json" else found)
    return 0


def _target(words: list[str]) -> tuple[str, str | None]:
    if "/" in words[0]:
        resource, name = words[0].split("/", 1)
        return resource, name
    return words[0], words[1] if len(words) > 1 else None


def _answer(ns: str, resource: str, name: str | None) -> object:
    plural, group = RESOURCES.get(resource.lower(), (resource, ""))
    full = f"{plural}.{group}" if group else plural
    objects = scenario().get("kubernetes", {}).get(ns, {}).get(full, {})
    if name is None:
        return {
            "apiVersion": "v1",
            "kind": "List",
            "items": [_next(ns, full, n, o) for n, o in objects.items()],
        }
    if name not in objects:
        raise RefusedError(f'Error from server (NotFound): {full} "{name}" not found')
    return _next(ns, full, name, objects[name])


def _next(ns: str, resource: str, name: str, answers: object) -> object:
    if not isinstance(answers, list):
        return answers
    key = f"{ns}/{resource}/{name}"
    served = read_json("kubectl-reads.json", {})
    index = served.get(key, 0)
    served[key] = index + 1
    write_json("kubectl-reads.json", served)
    return answers[min(index, len(answers) - 1)]


if __name__ == "__main__":
    run("kubectl", main)
