"""``python -m estimation_engine``: serve, smoke-test a deployment, probe a local engine, estimate a file.

Everything but the listening address comes from the environment (see settings.py), as in the overlays.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from estimation_engine.batch import command as batch_command


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m estimation_engine", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service (settings from the environment)")
    serve.add_argument("--host", help="address to bind (default ENGINE_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default ENGINE_PORT, else 8080)")
    serve.set_defaults(run=_serve)

    smoke = commands.add_parser(
        "smoke", help="post-deploy smoke test of a running engine; non-zero on failure"
    )
    smoke.add_argument("--url", required=True, help="base URL of the engine, e.g. https://host:8080")
    smoke.add_argument("--expect-name", help="model name it must serve (default MODEL_NAME)")
    smoke.add_argument(
        "--expect-version", type=int, help="model version it must serve (default MODEL_VERSION)"
    )
    smoke.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for readiness (default 120)"
    )
    smoke.add_argument("--min-price", type=float, default=1_000.0, help="lowest sane estimate (default 1000)")
    smoke.add_argument(
        "--max-price", type=float, default=100_000_000.0, help="highest sane estimate (default 1e8)"
    )
    smoke.set_defaults(run=_smoke)

    probe = commands.add_parser("probe", help="exit 0 if the local engine is ready (container HEALTHCHECK)")
    probe.add_argument("--path", default="/health/ready", help="route to probe (default /health/ready)")
    probe.add_argument("--timeout", type=float, default=3.0)
    probe.add_argument(
        "--host",
        help="address the engine binds (default ENGINE_HOST, else 127.0.0.1; 0.0.0.0 probes 127.0.0.1)",
    )
    probe.add_argument("--port", type=int, help="port the engine binds (default ENGINE_PORT, else 8080)")
    probe.set_defaults(run=_probe)

    batch_command.add_parser(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import os

    from estimation_engine.malloc_tunables import environment_to_reexec

    environment = environment_to_reexec(os.environ)
    if environment is not None:  # glibc reads its tunables at start: run again, once, with them set
        os.execve(sys.executable, [sys.executable, "-m", "estimation_engine", *args.argv], environment)
    from estimation_engine.api.server import serve
    from estimation_engine.settings import EngineSettings
    from model_contract.config_error import ConfigError

    try:
        settings = EngineSettings.from_env()
    except ConfigError as error:
        for problem in error.problems:
            print(f"estimation-engine: invalid setting: {problem}", file=sys.stderr)
        return 2
    return serve(settings, host=args.host, port=args.port)


def _smoke(args: argparse.Namespace) -> int:
    from estimation_engine.smoke import SmokeTestError, expected_from_env, run_smoke

    name, version = expected_from_env(args.expect_name, args.expect_version)
    try:
        for line in run_smoke(args.url, name, version, args.wait, (args.min_price, args.max_price)):
            print(f"ok: {line}")
    except SmokeTestError as failure:
        print(f"smoke test FAILED: {failure}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


# settings.DEFAULT_PORT, not imported: the container HEALTHCHECK runs the probe every few seconds and the
# settings module costs pydantic's import (~0.2 s). tests/estimation_engine/test_probe.py ties the two.
PROBE_DEFAULT_PORT = 8080
# A server bound to every address is reached on the loopback of the same family.
_WILDCARD_TO_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def probe_url(host: str | None, port: int | None, path: str, environ: Mapping[str, str]) -> str:
    """Where the engine listening on ``host``/``port`` (else ENGINE_HOST/ENGINE_PORT, as serve) answers."""
    address = (host if host is not None else environ.get("ENGINE_HOST", "127.0.0.1")).strip()
    address = _WILDCARD_TO_LOOPBACK.get(address, address).strip("[]")
    if ":" in address:
        address = f"[{address}]"  # an IPv6 literal in a URL
    return f"http://{address}:{port or environ.get('ENGINE_PORT') or PROBE_DEFAULT_PORT}{path}"


def _probe(args: argparse.Namespace) -> int:
    import os
    import urllib.request

    url = probe_url(args.host, args.port, args.path, os.environ)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as answer:
            return 0 if answer.status == 200 else 1
    except (OSError, ValueError):
        return 1
