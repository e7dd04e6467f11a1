"""Stand-in for curl and wget: the rehearsal has no network, so downloads are answered or refused here.

* ``https://get.pulumi.com``: an installer script that puts the pulumi stand-in in ``$HOME/.pulumi/bin``
  with the version passed to it (``sh -s -- --version X``), as the real installer does;
* ``https://github.com/argoproj/argo-cd/releases/download/<version>/argocd-linux-amd64``: the argocd
  stand-in, for the Argo CD release the project pins (ARGOCD_RELEASE, the appVersion of the argo-helm
  chart ``argo-cd`` the stacks install); any other version answers 404, as an unreleased one would;
* anything else: "could not resolve host".
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from common import RefusedError, option, read_json, run

ARGOCD_RELEASE = "v3.4.4"  # argo-helm argo-cd 10.1.1 ships Argo CD v3.4.4
ARGOCD_DOWNLOAD = re.compile(
    r"^https://github\.com/argoproj/argo-cd/releases/download/(v[^/]+)/argocd-linux-amd64$"
)


def main(argv: list[str], details: dict) -> int:
    tool = Path(os.environ.get("REHEARSAL_INVOKED_AS", "curl")).name
    urls = [arg for arg in argv if arg.startswith(("http://", "https://"))]
    if len(urls) != 1:
        raise RefusedError(f"the rehearsal's {tool} expects one URL, got {urls}")
    url = urls[0]
    details["url"] = url
    output = option(argv, "-o", "--output") if tool == "curl" else option(argv, "-O", "--output-document")
    body = _download(url, tool)
    if output in (None, "-"):
        sys.stdout.write(body)
    else:
        Path(output).write_text(body)
    return 0


def _download(url: str, tool: str) -> str:
    tools = read_json("tools.json", {})
    if url.rstrip("/") == "https://get.pulumi.com":
        return (
            "#!/bin/sh\n# Stands in for https://get.pulumi.com: installs the rehearsal's pulumi.\nset -e\nversion=latest\n"
            'while [ $# -gt 0 ]; do case "$1" in --version) version="$2"; shift;; esac; shift; done\n'
            'mkdir -p "$HOME/.pulumi/bin"\n'
            f'cp "{tools["pulumi"]}" "$HOME/.pulumi/bin/pulumi"\n'
            'echo "$version" > "$HOME/.pulumi/bin/.version"\n'
            'echo "Pulumi $version installed in $HOME/.pulumi/bin"\n'
        )
    match = ARGOCD_DOWNLOAD.match(url)
    if match:
        if match.group(1) != ARGOCD_RELEASE:
            code = 22 if tool == "curl" else 8
            raise RefusedError(f"The requested URL returned error: 404 (Argo CD {match.group(1)} is not the release "
                          f"the project pins, {ARGOCD_RELEASE})", code=code)  # fmt: skip
        wrapper = Path(tools["argocd"]).read_text()
        return wrapper.replace("exec ", f"REHEARSAL_TOOL_VERSION={match.group(1)} exec ", 1)
    raise RefusedError(f"Could not resolve host: {url.split('/')[2]} (the rehearsal has no network)", code=6)


if __name__ == "__main__":
    run(Path(os.environ.get("REHEARSAL_INVOKED_AS", "curl")).name, main)
