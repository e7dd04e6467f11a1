"""Stand-in for ``python`` (any emulated interpreter, see interpreters.py): ``pip``, ``venv``, and the
repository's commands that would reach the cloud; everything else runs for real.

* ``-m pip install -e ".[extras]"`` (or ``.``) installs this repository into *this* interpreter: from then on
  it imports the repository and its dependencies (those of the project's own ``.venv``). ``--upgrade pip``
  and the like are accepted, and so is ``--upgrade <a dependency the installed repository declares>``
  (recorded as ``upgraded``, not performed: the interpreter keeps the project's own versions); any other
  package is refused: the rehearsal downloads nothing.
* ``-m venv DIR`` creates an empty interpreter at DIR.
* ``-m training|delivery|infra|estimation_engine <command>`` for the commands in INTERCEPTED does not run: it would
  reach Azure (a registry, Azure ML, a container registry, Azure Repos) or, for ``smoke``, an engine. Instead
  the stand-in checks what the real command needs before it reaches out: the repository installed here
  with the extras it imports; an Azure credential, obtained as azure-identity's AzureCliCredential does
  (``az account get-access-token``); the environment variables it reads; a URL a hosted agent can reach.
  The scenario may set its exit code (``exit_codes``: ``{"delivery verify-image": 2}``).
* anything else (``-m infra plan``, a ``.pipelines/scripts`` file, ``-c ...``) runs in the real interpreter
  with what was installed on its path.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from common import STATE, RefusedError, azure_login, option, read_json, record, scenario
from interpreters import create, environment_for, read_manifest, write_manifest

ENVIRONMENTS = ("dev", "qa", "prod")


@dataclass(frozen=True)
class Needs:
    """What a repository command needs from its step before it reaches the cloud."""

    extras: frozenset[str] = frozenset()
    azure: bool = False
    gitops: bool = False
    registries: str = ""  # "env": --env's registry; "promotion": --from's and --to's; "": none
    reachable_url: bool = False
    files: tuple[str, ...] = ()  # options naming files the command reads


INTERCEPTED: dict[tuple[str, str], Needs] = {
    ("training", "submit"): Needs(
        frozenset({"training", "azure"}), azure=True, registries="env", files=("--stack-outputs",)
    ),
    ("training", "schedule"): Needs(
        frozenset({"training", "azure"}), azure=True, registries="env", files=("--stack-outputs",)
    ),
    ("training", "run"): Needs(frozenset({"training", "azure"}), azure=True, gitops=True, registries="env"),
    ("delivery", "promote"): Needs(
        frozenset({"training", "azure"}), azure=True, gitops=True, registries="promotion"
    ),
    ("delivery", "rollback"): Needs(
        frozenset({"training", "azure"}), azure=True, gitops=True, registries="env"
    ),
    # Reads the checkout's overlay and asks the registry with `az acr repository show` (tests/delivery/
    # test_container_images.py runs it for real against a recording az).
    ("delivery", "verify-image"): Needs(frozenset({"training"}), azure=True),
    ("delivery", "pin-image"): Needs(frozenset({"training"}), gitops=True),
    ("infra", "reap"): Needs(frozenset({"infra", "azure"}), azure=True),
    ("estimation_engine", "smoke"): Needs(reachable_url=True),
}


def main() -> None:
    root, args = Path(sys.argv[1]), sys.argv[2:]
    manifest = read_manifest(root)
    if args[:2] == ["-m", "pip"]:
        _recorded(args, lambda details: _pip(root, manifest, args[2:], details))
    if args[:2] == ["-m", "venv"]:
        _recorded(args, lambda details: _venv(args[2:]))
    if args[:1] == ["-m"] and len(args) > 2:
        subcommand = next((a for a in args[2:] if not a.startswith("-")), "")
        needs = INTERCEPTED.get((args[1], subcommand))
        if needs is not None:
            _recorded(args, lambda details: _intercept(root, manifest, args, subcommand, needs, details))
    base = read_json("python.json", {})["base"]
    record("python", args, interpreter=str(root), ran=True)
    os.execve(base, [base, *args], environment_for(manifest))


def _recorded(args: list[str], action) -> None:
    details: dict = {}
    try:
        code = action(details)
    except RefusedError as refusal:
        print(f"{refusal}", file=sys.stderr)
        record("python", args, interpreter=sys.argv[1], exit=refusal.code, refused=str(refusal), **details)
        sys.exit(refusal.code)
    record("python", args, interpreter=sys.argv[1], exit=code, **details)
    sys.exit(code)


def _pip(root: Path, manifest: dict, args: list[str], details: dict) -> int:
    if args[:1] != ["install"]:
        raise RefusedError(f"the rehearsal's pip models `pip install` only, not {args[:1]}")
    specs, index = [], 1
    while index < len(args):
        arg = args[index]
        if arg in ("-e", "--editable", "-r", "--requirement"):
            specs.append((arg, args[index + 1]))
            index += 2
            continue
        if not arg.startswith("-"):
            specs.append(("", arg))
        index += 1
    for flag, spec in specs:
        if flag in ("-r", "--requirement"):
            raise RefusedError(
                f"the rehearsal installs this repository only, not a requirements file ({spec})"
            )
        if spec in ("pip", "setuptools", "wheel"):
            continue
        if "--upgrade" in args and spec in _declared_dependencies(manifest):
            details.setdefault("upgraded", []).append(spec)
            continue
        _install_project(root, manifest, spec, details)
    write_manifest(root, manifest)
    return 0


def _install_project(root: Path, manifest: dict, spec: str, details: dict) -> None:
    path_text, _, extras_text = spec.partition("[")
    project_dir = (Path.cwd() / path_text).resolve()
    pyproject = project_dir / "pyproject.toml"
    if not pyproject.is_file():
        raise RefusedError(
            f"the rehearsal downloads nothing: {spec!r} is not a local project (no {pyproject})"
        )
    project = tomllib.loads(pyproject.read_text())["project"]
    declared = set(project.get("optional-dependencies", {}))
    wanted = {extra.strip() for extra in extras_text.rstrip("]").split(",") if extra.strip()}
    unknown = sorted(wanted - declared)
    if unknown:
        print(f"WARNING: {project['name']} does not provide the extra(s) {unknown}", file=sys.stderr)
    dependencies = read_json("python.json", {})["dependencies"]
    manifest["installed"] = [str(project_dir), dependencies]
    manifest["extras"] = sorted(set(manifest["extras"]) | (wanted & declared))
    manifest["project"] = project["name"]
    details["installed"] = {"project": project["name"], "extras": manifest["extras"], "into": str(root)}


def _declared_dependencies(manifest: dict) -> set[str]:
    """The names of the installed repository's dependencies (none before it is installed)."""
    if manifest["project"] is None:
        return set()
    project = tomllib.loads((Path(manifest["installed"][0]) / "pyproject.toml").read_text())["project"]
    return {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0] for requirement in project["dependencies"]}


def _venv(args: list[str]) -> int:
    targets = [arg for arg in args if not arg.startswith("-")]
    if len(targets) != 1:
        raise RefusedError(f"python -m venv expects one directory, got {targets}")
    target = (Path.cwd() / targets[0]).resolve()
    if not target.is_relative_to(STATE.parent):
        raise RefusedError(f"the rehearsal creates environments inside its run folder only, not at {target}")
    create(target, "venv", read_json("python.json", {}))
    return 0


def _intercept(
    root: Path, manifest: dict, args: list[str], subcommand: str, needs: Needs, details: dict
) -> int:
    module = args[1]
    details["intercepted"] = True
    if manifest["project"] is None or not (Path(manifest["installed"][0]) / module).is_dir():
        raise RefusedError(
            f"{root}/bin/python: No module named {module} (this repository is not installed in {root})"
        )
    missing = sorted(needs.extras - set(manifest["extras"]))
    if missing:
        raise RefusedError(f"ModuleNotFoundError: `{module} {subcommand}` imports the extras {missing}, not installed "
                      f"in {root} (installed: {manifest['extras']})")  # fmt: skip
    if needs.azure:
        details["identity"] = _azure_identity(module, subcommand)
    if needs.gitops:
        _require_gitops_settings()
    for name in _registry_variables(args, needs.registries):
        value = os.environ.get(name, "")
        if not value.startswith("azureml://"):
            raise RefusedError(f"{name} is {'not set' if not value else repr(value)}: `{module} {subcommand}` needs that "
                          "environment's Azure ML MLflow registry (`pulumi stack output mlflowTrackingUri`)")  # fmt: skip
    for name in needs.files:
        path = option(args, name)
        if path is not None and not Path(path).is_file():
            raise RefusedError(f"{name}: {path} does not exist")
    if needs.reachable_url:
        _require_reachable(option(args, "--url"))
    code = int(scenario().get("exit_codes", {}).get(f"{module} {subcommand}", 0))
    print(f"rehearsal: `python {' '.join(args)}` intercepted before it reaches the cloud (exit {code})")
    return code


def _azure_identity(module: str, subcommand: str) -> str:
    result = subprocess.run(["az", "account", "get-access-token", "--output", "json"], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    session = azure_login()
    if result.returncode != 0 or session is None:
        raise RefusedError(f"`{module} {subcommand}`: DefaultAzureCredential failed to retrieve a token: "
                      f"AzureCliCredential: {result.stderr.strip() or 'no session'}")  # fmt: skip
    return session["connection"]


def _require_gitops_settings() -> None:
    if os.environ.get("GITOPS_PROVIDER") != "azure-repos":
        raise RefusedError(
            f"GITOPS_PROVIDER={os.environ.get('GITOPS_PROVIDER', 'local')!r}: a pipeline proposes pins to Azure Repos"
        )
    for name in ("AZURE_DEVOPS_ORG_URL", "AZURE_DEVOPS_PROJECT", "AZURE_DEVOPS_REPOSITORY"):
        value = os.environ.get(name, "")
        if not value or "$(" in value:
            raise RefusedError(f"{name} is {value!r}: the gitops settings did not resolve")
    if not (os.environ.get("SYSTEM_ACCESSTOKEN") or os.environ.get("AZURE_DEVOPS_EXT_PAT")):
        raise RefusedError("set AZURE_DEVOPS_EXT_PAT (a PAT) or SYSTEM_ACCESSTOKEN (bearer) for Azure Repos")


def _registry_variables(args: list[str], kind: str) -> list[str]:
    if kind == "env":
        env = option(args, "--env") or "dev"
        specific = f"MLFLOW_TRACKING_URI_{env.upper()}"
        return [
            specific
            if os.environ.get(specific) or not os.environ.get("MLFLOW_TRACKING_URI")
            else "MLFLOW_TRACKING_URI"
        ]
    if kind == "promotion":
        envs = [option(args, "--from"), option(args, "--to")]
        return [f"MLFLOW_TRACKING_URI_{env.upper()}" for env in envs if env]
    return []


def _require_reachable(url: str | None) -> None:
    host = urlsplit(url or "").hostname or ""
    try:
        private = ipaddress.ip_address(host).is_private
    except ValueError:  # a name, not an address
        private = False
    if (
        not host
        or private
        or "." not in host
        or host.endswith((".svc", ".cluster.local", ".local", ".internal"))
    ):
        raise RefusedError(f"httpx.ConnectError: cannot reach {url!r} from a Microsoft-hosted agent: it is an address "
                      "inside the cluster's (or a private) network; verify inside the cluster (PostSync hook)")  # fmt: skip


if __name__ == "__main__":
    main()
