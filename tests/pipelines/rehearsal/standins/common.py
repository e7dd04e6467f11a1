"""What every stand-in shares: the run's state folder, the scenario, recording calls, refusing clearly.

Stand-ins run as separate processes (the harness puts small wrappers on the agent's PATH). Each finds the
run through ``REHEARSAL_STATE`` and appends one JSON line per call to ``calls.jsonl``: the tool, argv, the
working directory, the step it ran in, the names of the environment variables that matter (values only
for names that are never secret) and how it ended. Secret values (tokens, passphrases) are replaced by
``***`` wherever they would appear.
"""

from __future__ import annotations

import json
import os
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any, NoReturn

# Stand-ins start without `site` (-S, for speed: dozens run per pipeline); their one third-party import,
# PyYAML, comes from the harness's own environment.
if sysconfig.get_paths()["purelib"] not in sys.path:
    sys.path.append(sysconfig.get_paths()["purelib"])

STATE = Path(os.environ.get("REHEARSAL_STATE", "/nonexistent-rehearsal-state"))
RECORDED_ENV = re.compile(
    r"^(ARM_\w+|AZURE_\w+|AZURESUBSCRIPTION_\w+|PULUMI_\w+|MLFLOW_\w+|GITOPS_\w+|SYSTEM_ACCESSTOKEN|KUBECONFIG"
    r"|AAD_LOGIN_METHOD|VIRTUAL_ENV|idToken|servicePrincipalId|tenantId|MODEL_NAME|MODEL_VERSION|DOCKER_CONFIG)$"
)
NEVER_SECRET = re.compile(
    r"^(ARM_USE_OIDC|ARM_CLIENT_ID|ARM_TENANT_ID|ARM_SUBSCRIPTION_ID|AZURE_SUBSCRIPTION_ID|AZURE_CONFIG_DIR"
    r"|AZURE_DEVOPS_\w+|AZURESUBSCRIPTION_\w+|PULUMI_BACKEND_URL|MLFLOW_TRACKING_URI\w*|GITOPS_PROVIDER|KUBECONFIG"
    r"|AAD_LOGIN_METHOD|VIRTUAL_ENV|servicePrincipalId|tenantId|MODEL_NAME|MODEL_VERSION)$"
)


class RefusedError(Exception):
    """What the real tool would refuse, with its reason; the stand-in exits non-zero with the message."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def load_yaml(text: str) -> Any:
    import yaml  # after the path above is set

    return yaml.safe_load(text)


def dump_yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=False)


def read_json(name: str, default: Any) -> Any:
    path = STATE / name
    return json.loads(path.read_text()) if path.is_file() else default


def write_json(name: str, value: Any) -> None:
    path = STATE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, sort_keys=True))


def scenario() -> dict[str, Any]:
    return read_json("scenario.json", {})


def organization() -> dict[str, Any]:
    return read_json("organization.json", {})


def secrets() -> list[str]:
    return [value for value in read_json("secrets.json", []) if value]


def mask(text: str) -> str:
    for value in secrets():
        text = text.replace(value, "***")
    return text


def add_secret(value: str) -> None:
    known = read_json("secrets.json", [])
    if value not in known:
        write_json("secrets.json", [*known, value])


def recorded_environment() -> dict[str, str]:
    return {
        name: (mask(value) if NEVER_SECRET.match(name) else "***")
        for name, value in sorted(os.environ.items())
        if RECORDED_ENV.match(name)
    }


def record(tool: str, argv: list[str], **details: Any) -> None:
    session = azure_login()
    if session and "identity" not in details:
        details["identity"] = session["connection"]  # the Azure login the call ran under
    entry = {
        "tool": tool,
        "argv": [mask(arg) for arg in argv],
        "cwd": str(Path.cwd()),
        "job": os.environ.get("REHEARSAL_JOB", ""),
        "step": os.environ.get("REHEARSAL_STEP", ""),
        "env": recorded_environment(),
        **details,
    }
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "calls.jsonl").open("a") as stream:
        stream.write(json.dumps(entry, sort_keys=True) + "\n")


def run(tool: str, main) -> NoReturn:
    """Run a stand-in's main(argv) -> exit code, recording the call and any refusal."""
    argv = sys.argv[1:]
    details: dict[str, Any] = {}
    try:
        code = main(argv, details)
    except RefusedError as refusal:
        message = mask(str(refusal))
        print(f"{tool}: {message}", file=sys.stderr)
        record(tool, argv, exit=refusal.code, refused=message, **details)
        sys.exit(refusal.code)
    record(tool, argv, exit=code, **details)
    sys.exit(code)


def option(argv: list[str], *names: str, default: str | None = None) -> str | None:
    """The value of ``--name value`` or ``--name=value`` (the last one given)."""
    found = default
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                found = argv[index + 1]
            elif arg.startswith(name + "="):
                found = arg.split("=", 1)[1]
    return found


def positional(argv: list[str], valued: tuple[str, ...]) -> list[str]:
    """The words of ``argv`` that are neither options nor the values of the options in ``valued``."""
    words, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in valued
        else:
            words.append(arg)
    return words


def azure_config_dir() -> Path:
    return Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")


def azure_login() -> dict[str, Any] | None:
    """The Azure CLI session of this process's config dir, as ``az login`` left it (None: logged out)."""
    path = azure_config_dir() / "rehearsal-session.json"
    return json.loads(path.read_text()) if path.is_file() else None


def require_azure_login(what: str) -> dict[str, Any]:
    session = azure_login()
    if session is None:
        raise RefusedError(
            f"{what}: Please run 'az login' to setup account. (No Azure CLI session in "
            f"{azure_config_dir()}: run this inside AzureCLI@2, which logs in with the service connection.)"
        )
    return session
