#!/usr/bin/env bash
# Wait until an Argo CD Application has synced a revision that contains COMMIT and is healthy.
#   usage: wait-for-argocd.sh APPLICATION COMMIT TIMEOUT_SECONDS
# `argocd app wait` alone could return for the revision synced before the merge, so first poll (with a
# hard refresh) until the synced revision is COMMIT or a descendant of it, then wait for sync and health.
# Runs the argocd CLI in --core mode: it talks to the cluster's API with the current kubeconfig context
# (namespace argocd), so no Argo CD API server login or password is needed.
set -euo pipefail

application="$1"
commit="$2"
timeout="$3"
deadline=$(($(date +%s) + timeout))

git fetch --quiet origin main
while true; do
  synced="$(argocd app get "$application" --core --hard-refresh -o json | jq -r '.status.sync.revision // empty')"
  if [ -n "$synced" ] && git merge-base --is-ancestor "$commit" "$synced" 2>/dev/null; then
    echo "$application has synced $synced, which contains $commit"
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "##vso[task.logissue type=error]$application did not sync $commit within ${timeout}s (synced: ${synced:-nothing})"
    exit 1
  fi
  sleep 15
done

remaining=$((deadline - $(date +%s)))
argocd app wait "$application" --core --sync --health --timeout "$((remaining > 60 ? remaining : 60))"
