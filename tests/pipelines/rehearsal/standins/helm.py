"""Stand-in for helm (on hosted agents). No pipeline uses it: Pulumi installs Argo CD's chart. It answers
``helm version`` and refuses anything else by name, so a new use cannot pass the rehearsal unmodelled."""

from __future__ import annotations

from common import RefusedError, run


def main(argv: list[str], details: dict) -> int:
    if argv[:1] == ["version"]:
        print('version.BuildInfo{Version:"v3.17.0"}')
        return 0
    raise RefusedError(f"the rehearsal's helm does not model `helm {' '.join(argv[:1])}`")


if __name__ == "__main__":
    run("helm", main)
