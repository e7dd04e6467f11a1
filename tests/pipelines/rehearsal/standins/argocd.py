"""Stand-in for the Argo CD CLI (downloaded by a pipeline from the argo-cd GitHub releases, see curl.py).

Without ``--core`` it talks to an Argo CD API server: it needs ``argocd login`` first (none is modelled: the
pipelines have no Argo CD account). With ``--core`` it runs the API server's logic in-process against the
cluster with the kubeconfig's identity, and so needs what the server's service account has: reading
Argo CD's configmaps and secrets in its namespace (argocd-cm, argocd-secret, argocd-rbac-cm) besides the
Applications. A principal granted only read on Applications is refused there, as the real CLI would be.
"""

from __future__ import annotations

import os

from common import RefusedError, run
from kube import authorize, load_kubeconfig, sign_in


def main(argv: list[str], details: dict) -> int:
    details["version"] = os.environ.get("REHEARSAL_TOOL_VERSION", "")
    words = [arg for arg in argv if not arg.startswith("-")]
    if words[:1] == ["version"] and "--client" in argv:
        print(f"argocd: {details['version']}")
        return 0
    if "--core" not in argv:
        raise RefusedError("FATA[0000] Argo CD server address unspecified (no `argocd login`; or use --core)")
    _, config = load_kubeconfig(argv)
    principal = sign_in(config)
    details["identity"] = principal
    namespace = os.environ.get("ARGOCD_NAMESPACE") or "argocd"
    for resource, name in (("configmaps", "argocd-cm"), ("secrets", "argocd-secret")):
        authorize(principal, "get", resource, namespace, name)
    raise RefusedError(f"the rehearsal's argocd does not model `argocd {' '.join(words[:2])} --core`")


if __name__ == "__main__":
    run("argocd", main)
