"""Stand-in for the Pulumi CLI, installed by the fake https://get.pulumi.com script (see curl.py).

What it checks is what the real CLI would trip over on a fresh agent, from Pulumi's source
(sdk/python/toolchain/pip.go, sdk/python/dist/pulumi-analyzer-policy-python):

* the program's runtime: Pulumi.yaml's ``virtualenv`` resolved against the project folder. Missing (or
  empty), Pulumi creates it with ``python3 -m venv``, upgrades pip and installs ``requirements.txt`` if there
  is one, then runs the program with that interpreter: here the interpreter must import ``pulumi`` and the
  program, which runs for real under its offline plan (``python -m infra plan``) in that interpreter;
* each ``--policy-pack``: PulumiPolicy.yaml's ``virtualenv`` resolved against the pack's folder must hold a
  ``bin/python`` (the analyzer refuses otherwise) that imports ``pulumi_policy``;
* a backend (``pulumi login`` or ``PULUMI_BACKEND_URL``) it can reach: an ``azblob://`` backend needs an Azure
  credential (an ``az`` session or a storage key);
* the passphrase of passphrase-encrypted stacks for every command that reads a stack (pulumi/pulumi#21141:
  even ``stack output`` of a plain value needs it);
* credentials for the azure-native provider on ``up``/``preview``: OIDC (``ARM_USE_OIDC`` with a token,
  client, tenant) or an ``az`` session, and a subscription.

Stack outputs are the "cloud state" of the run (state/stack-outputs.json): seeded by the harness, updated by
``up`` with what the program's plan exports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from common import RefusedError, azure_login, load_yaml, option, positional, read_json, run, write_json

SECRET_OUTPUTS = {"kubeconfig"}
VALUED = (
    "--stack",
    "-s",
    "--policy-pack",
    "--cwd",
    "-C",
    "--color",
    "--config-file",
    "--target",
    "--message",
    "-m",
)


def main(argv: list[str], details: dict) -> int:
    version_file = Path(os.environ.get("REHEARSAL_INVOKED_AS", "pulumi")).parent / ".version"
    details["installed_version"] = version_file.read_text().strip() if version_file.is_file() else None
    session = azure_login()
    if session:
        details["identity"] = session["connection"]
    words = positional(argv, VALUED)
    command = words[0] if words else ""
    if command == "version":
        print(f"v{details['installed_version']}")
        return 0
    if command == "login":
        return _login(words[1] if len(words) > 1 else os.environ.get("PULUMI_BACKEND_URL", ""))
    if command == "stack" and words[1:2] == ["output"]:
        return _stack_output(argv, words[2] if len(words) > 2 else None)
    if command in ("up", "preview"):
        return _deploy(command, argv, details)
    raise RefusedError(f"the rehearsal's pulumi does not model `pulumi {' '.join(words[:2])}`")


def _credentials_file() -> Path:
    return Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi") / "credentials.json"


def _login(url: str) -> int:
    if not url:
        raise RefusedError("pulumi login needs a backend URL (PULUMI_BACKEND_URL is empty)")
    _reach_backend(url)
    path = _credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current": url}))
    print(f"Logged in to {url.split('?')[0]}")
    return 0


def _reach_backend(url: str) -> None:
    if not url.startswith("azblob://"):
        raise RefusedError(f"the rehearsal's state backend is an azblob:// container, not {url!r}")
    if not (
        azure_login() or os.environ.get("AZURE_STORAGE_KEY") or os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    ):
        raise RefusedError(
            f"unable to open bucket {url}: DefaultAzureCredential: failed to acquire a token "
            "(no Azure CLI session, no storage key): run inside AzureCLI@2"
        )


def _backend() -> str:
    url = os.environ.get("PULUMI_BACKEND_URL")
    if not url and _credentials_file().is_file():
        url = json.loads(_credentials_file().read_text())["current"]
    if not url:
        raise RefusedError("no Pulumi backend: run `pulumi login <url>` first or set PULUMI_BACKEND_URL")
    _reach_backend(url)
    return url


def _project() -> tuple[Path, dict]:
    folder = Path.cwd()
    for candidate in [folder, *folder.parents]:
        for name in ("Pulumi.yaml", "Pulumi.yml"):
            if (candidate / name).is_file():
                return candidate, load_yaml((candidate / name).read_text())
    raise RefusedError(f"no Pulumi.yaml project file found (searching upwards from {folder})")


def _stack(argv: list[str], root: Path, project: dict) -> str:
    stack = option(argv, "--stack", "-s")
    if not stack:
        raise RefusedError("no stack selected: pass --stack")
    config = root / project.get("stackConfigDir", ".") / f"Pulumi.{stack}.yaml"
    if not config.is_file():
        raise RefusedError(f"no stack named '{stack}' found (no {config.relative_to(root)})")
    return stack


def _require_passphrase() -> None:
    if not (os.environ.get("PULUMI_CONFIG_PASSPHRASE") or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise RefusedError(
            'constructing secrets manager of type "passphrase": passphrase must be set with '
            "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables"
        )


def _stack_output(argv: list[str], name: str | None) -> int:
    root, project = _project()
    stack = _stack(argv, root, project)
    _backend()
    _require_passphrase()
    outputs = read_json("stack-outputs.json", {}).get(stack)
    if outputs is None:
        raise RefusedError(f"stack {stack} has never been deployed: it has no outputs")
    if "--show-secrets" not in argv:
        outputs = {
            key: "[secret]" if key in SECRET_OUTPUTS and value else value for key, value in outputs.items()
        }
    if name is None:
        print(
            json.dumps(outputs, indent=2)
            if "--json" in argv
            else "\n".join(f"{k} {v}" for k, v in outputs.items())
        )
        return 0
    if name not in outputs:
        raise RefusedError(f"current stack does not have output property '{name}'")
    value = outputs[name]
    print(json.dumps(value) if "--json" in argv else ("" if value is None else value))
    return 0


def _deploy(command: str, argv: list[str], details: dict) -> int:
    root, project = _project()
    stack = _stack(argv, root, project)
    if (
        command == "up"
        and "--non-interactive" in argv
        and not {"--yes", "-y", "--skip-preview", "-f"} & set(argv)
    ):
        raise RefusedError(
            "--yes or --skip-preview must be passed in to proceed when running in non-interactive mode"
        )
    _backend()
    _require_passphrase()
    details["provider_credentials"] = _provider_credentials()
    interpreter = _program_interpreter(root, project)
    details["program_python"] = str(interpreter)
    for pack in _policy_packs(argv):
        details.setdefault("policy_python", []).append(str(_policy_interpreter(pack)))
    outputs = _run_program(interpreter, root, project, stack)
    if command == "up":
        stacks = read_json("stack-outputs.json", {})
        stacks[stack] = outputs
        write_json("stack-outputs.json", stacks)
    print(f"{command} of stack {stack}: the program ran in {interpreter}")
    return 0


def _provider_credentials() -> str:
    if os.environ.get("ARM_USE_OIDC", "").lower() == "true":
        missing = [n for n in ("ARM_OIDC_TOKEN", "ARM_CLIENT_ID", "ARM_TENANT_ID") if not os.environ.get(n)]
        if missing:
            raise RefusedError(f"azure-native: ARM_USE_OIDC is set but {', '.join(missing)} is empty")
        credentials = "oidc"
    elif azure_login():
        credentials = "azure-cli"
    else:
        raise RefusedError(
            "azure-native: no credentials (neither ARM_USE_OIDC with a token nor an Azure CLI session)"
        )
    if not (os.environ.get("ARM_SUBSCRIPTION_ID") or (azure_login() or {}).get("subscription")):
        raise RefusedError("azure-native: no subscription (ARM_SUBSCRIPTION_ID is empty)")
    return credentials


def _virtualenv(root: Path, options: dict) -> Path | None:
    if options.get("toolchain", "pip") != "pip":
        raise RefusedError(f"the rehearsal models the pip toolchain only, not {options['toolchain']!r}")
    return (root / options["virtualenv"]).resolve() if options.get("virtualenv") else None


def _python_on_path() -> str:
    found = shutil.which(os.environ.get("PULUMI_PYTHON_CMD") or "python3") or shutil.which("python")
    if not found:
        raise RefusedError('failed to locate any of ["python3" "python"] on your PATH')
    return found


def _program_interpreter(root: Path, project: dict) -> Path:
    runtime = project.get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    venv = _virtualenv(root, options)
    if venv is None:
        return Path(_python_on_path())
    if not (venv / "bin" / "python").is_file() or not any(venv.iterdir() if venv.is_dir() else []):
        # What EnsureVenv does on a fresh agent: create it, upgrade pip, install requirements.txt if any.
        print(f"Creating virtual environment... ({venv} does not exist)")
        _checked([_python_on_path(), "-m", "venv", str(venv)], root)
        _checked(
            [str(venv / "bin/python"), "-m", "pip", "install", "--upgrade", "pip", "setuptools", "wheel"],
            root,
        )
        if (root / "requirements.txt").is_file():
            _checked([str(venv / "bin/python"), "-m", "pip", "install", "-r", "requirements.txt"], root)
    return venv / "bin" / "python"


def _policy_packs(argv: list[str]) -> list[Path]:
    return [
        Path(argv[i + 1]).resolve()
        for i, arg in enumerate(argv)
        if arg == "--policy-pack" and i + 1 < len(argv)
    ]


def _policy_interpreter(pack: Path) -> Path:
    manifest = pack / "PulumiPolicy.yaml"
    if not manifest.is_file():
        raise RefusedError(
            f"failed to load Pulumi policy project located at {str(pack)!r}: no PulumiPolicy.yaml"
        )
    runtime = load_yaml(manifest.read_text()).get("runtime", {})
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    venv = _virtualenv(pack, options)
    python = venv / "bin" / "python" if venv else Path(_python_on_path())
    if venv and not python.is_file():
        raise RefusedError(
            f'policy pack {pack.name} failed to start: "{venv}" doesn\'t appear to be a virtual environment'
        )
    result = _quiet([str(python), "-c", "import pulumi_policy"], pack)
    if result.returncode != 0:
        raise RefusedError(f"policy pack {pack.name} failed to start: {result.stderr.strip()[-400:]}")
    return python


def _run_program(interpreter: Path, root: Path, project: dict, stack: str) -> dict:
    main = Path(project.get("main", ".")).name
    result = _quiet(
        [str(interpreter), "-m", main, "plan", "--stack", stack, "--json"],
        root,
        venv=interpreter.parent.parent,
    )
    if result.returncode != 0:
        raise RefusedError(
            "an unhandled error occurred: Program exited with non-zero exit code: 1\n"
            + result.stderr.strip()[-800:],
            code=255,
        )
    return json.loads(result.stdout)["outputs"]


def _quiet(command: list[str], cwd: Path, venv: Path | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    if venv is not None:  # ActivateVirtualEnv: the venv's bin first on PATH, VIRTUAL_ENV set
        environment["PATH"] = f"{venv / 'bin'}:{environment.get('PATH', '')}"
        environment["VIRTUAL_ENV"] = str(venv)
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300, check=False
    )


def _checked(command: list[str], cwd: Path) -> None:
    result = _quiet(command, cwd)
    if result.returncode != 0:
        raise RefusedError(
            f"creating the virtual environment failed: {' '.join(command)}: {result.stderr.strip()[-400:]}"
        )


if __name__ == "__main__":
    run("pulumi", main)
