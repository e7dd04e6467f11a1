"""``make demo``: the whole loop on one machine, the way production runs it.

1. Train on the shipped Ames data, gate against dev's pinned champion, register, open the bump PR on the
   local gitops remote, and merge it (a reviewer would press the button).
2. Render dev's overlay with ``kubectl kustomize`` (what Argo CD applies) and the offline infra plan of the
   dev stack (what ``pulumi up`` deploys to ACI): both carry the new pin.
3. Promote dev -> qa -> prod by pull request, merged: each environment has its own registry (as each
   stack has its own Azure ML workspace), so each promotion copies the model into the next registry,
   verified by sha256, and pins that registry's version; prod's rendered Deployment carries the pin.
4. Start the estimation engine on 127.0.0.1 exactly as prod's overlay configures it (against prod's
   registry), wait for ready, run the post-deploy smoke test, check that it serves the bytes trained in
   dev, print a sample estimate with its range, stop the engine.
5. Retrain on the same data: "no improvement", nothing changes.
6. Prod's canary: start the model prod replaced (previous-model.env) and the new one comparing with it, as
   prod's overlay configures them, send sample traffic, print the canary analysis's verdict. On fresh state
   prod has had one model only, so a challenger (another data split, forced past the gate) goes through
   dev -> qa -> prod first.
7. Summarise: versions, PRs, where things are, what to run next.

State lives in .mlops/ (git-ignored); running the demo again continues from there.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import yaml
from canary_verdict import judge_serving, judge_shadow, samples, template_args  # scripts/canary_verdict.py

from delivery.cli import main as delivery
from delivery.overlay_render import render_objects
from delivery.pin_requests import PromotionError
from delivery.promote import promote
from delivery.services import build_services, local_pull_requests
from delivery.settings import DeliverySettings
from delivery.shadow_pin import shadow_pin_path
from model_contract.local_state import default_tracking_uri, project_root, registry_dir, state_dir
from model_contract.pins import ENVIRONMENTS
from training.cli import main as training
from training.config import DEFAULT_CONFIG, load_config

PYTHON = sys.executable
ENGINE_START_TIMEOUT = 60


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def shell(command: str) -> None:
    print(f"$ {command}", flush=True)


def run_job(env: str, config: Path, *options: str) -> None:
    shown = "" if config == DEFAULT_CONFIG else f" --config {config}"
    shell(f"python -m training run --env {env}{shown}" + "".join(f" {option}" for option in options))
    if training(["run", "--env", env, "--config", str(config), *options]) != 0:
        sys.exit("demo: the training job failed (see the message above)")


def merge_open(env: str) -> list[int]:
    """Merge the open pin PRs for ``env``: in real life, a reviewer pressing the button."""
    merged = []
    for pr in local_pull_requests().list_open():
        if pr.head.startswith(f"mlops/{env}/"):
            shell(f"python -m delivery merge {pr.number}")
            if delivery(["merge", str(pr.number)]) != 0:
                sys.exit(f"demo: merging #{pr.number} failed (see the message above)")
            merged.append(pr.number)
    return merged


def show_rendered_pin(root: Path, env: str) -> dict[str, str]:
    """What Argo CD would apply for ``env``: the Deployment's model ConfigMap and the pin inside it."""
    objects = render_objects(root, env)
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    referenced = [
        ref["configMapRef"]["name"] for ref in container.get("envFrom", []) if "configMapRef" in ref
    ]
    model_map = next(name for name in referenced if "MODEL_VERSION" in config_maps[name])
    pin = config_maps[model_map]
    shell(f"kubectl kustomize gitops/apps/estimation-engine/overlays/{env}")
    print(f"   {env}: Deployment/{deployment['metadata']['name']} -> ConfigMap/{model_map}: "
          f"MODEL_NAME={pin['MODEL_NAME']} MODEL_VERSION={pin['MODEL_VERSION'] or '(none)'}; image {container['image']}")  # fmt: skip
    return {"config_map": model_map, **pin}


def show_planned_container(root: Path, env: str) -> None:
    """What ``pulumi up --stack env`` would deploy to ACI, from the offline plan over the same files."""
    shell(f"python -m infra plan --stack {env} --json")
    completed = subprocess.run(
        [PYTHON, "-m", "infra", "plan", "--stack", env, "--json", "--gitops-root", str(root)],
        capture_output=True, text=True, check=True, cwd=project_root(),
    )  # fmt: skip
    plan = json.loads(completed.stdout)
    groups = [r for r in plan["resources"] if r["type"] == "azure-native:containerinstance:ContainerGroup"]
    if not groups:
        print(f"   {env}: no container group planned (no model pinned yet)")
        return
    container = groups[0]["inputs"]["containers"][0]
    variables = {v["name"]: v.get("value") for v in container.get("environmentVariables", [])}
    print(f"   {env} (ACI): ContainerGroup {groups[0]['name']}: MODEL_NAME={variables.get('MODEL_NAME')} "
          f"MODEL_VERSION={variables.get('MODEL_VERSION')}; image {container['image']}")  # fmt: skip


def promote_by_pr(source: str, target: str) -> None:
    shell(f"python -m delivery promote --from {source} --to {target}")
    try:
        promotion = promote(build_services(DeliverySettings.from_environment()), target, source=source)
    except PromotionError as reason:
        print(f"   nothing to promote: {reason}")
        return
    if promotion.copy is not None:
        print(f"   model: {promotion.copy.describe()}")
    print(f"   {promotion.image.describe()}")
    print(f"   opened #{promotion.change.pull_request.number}: {promotion.change.pull_request.title}")
    merge_open(target)


def engine_environment(objects: list[dict], env: str, port: int) -> dict[str, str]:
    """The engine's environment as the rendered overlay sets it, with the local-only overrides."""
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    environment: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        environment.update(config_maps.get(ref.get("configMapRef", {}).get("name"), {}))
    environment.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    overrides = {
        # The overlay points at the environment's Azure ML workspace; here its registry is the local one.
        "MLFLOW_TRACKING_URI": default_tracking_uri(env),
        # Loopback only, on a free port; the pod listens on all its addresses instead.
        "ENGINE_HOST": "127.0.0.1",
        "ENGINE_PORT": str(port),
        "ENGINE_MODEL_CACHE_DIR": str(state_dir() / "engine-cache"),
    }
    for key, value in overrides.items():
        if environment.get(key) != value:
            print(f"   override {key}={value} (overlay: {environment.get(key, 'unset')})")
    return {**environment, **overrides}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def engine_as_overlay(
    root: Path, env: str, changes: dict[str, str] | None = None, log_name: str = "engine-demo.log"
) -> Iterator[str]:
    """Run ``python -m estimation_engine serve`` with ``env``'s overlay settings (and ``changes``, shown);
    stop it by its PID."""
    port = free_port()
    variables = {**engine_environment(render_objects(root, env), env, port), **(changes or {})}
    shown = " ".join(f"{key}={value}" for key, value in (changes or {}).items())
    shell(
        f"{shown + ' ' if shown else ''}python -m estimation_engine serve --host 127.0.0.1 --port {port}"
        f"   # with {env}'s overlay settings"
    )
    log = (state_dir() / log_name).open("w")
    process = subprocess.Popen(
        [PYTHON, "-m", "estimation_engine", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **variables}, stdout=log, stderr=subprocess.STDOUT, cwd=project_root(),
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        print(f"   engine (pid {process.pid}) stopped; its log: {state_dir() / log_name}")


def same_bytes_as_dev(url: str) -> None:
    """The model prod serves is, byte for byte, the one trained and registered in dev."""
    served = httpx.get(f"{url}/v1/model", timeout=10).json()
    services = build_services(DeliverySettings.from_environment())
    dev_pin = services.remote.read_pins()["dev"]
    trained = services.registry("dev").get(dev_pin.name, dev_pin.version)  # type: ignore[arg-type]
    print(f"   prod serves {served['name']} v{served['version']} sha256 {served['sha256'][:16]}...; "
          f"dev registered {trained.describe()} sha256 {(trained.sha256 or '')[:16]}...")  # fmt: skip
    if served["sha256"] != trained.sha256:
        sys.exit("demo: prod does not serve the bytes trained in dev")


def smoke_and_estimate(url: str, expected_version: str) -> None:
    shell(f"python -m estimation_engine smoke --url {url} --expect-version {expected_version}")
    smoke = subprocess.run(
        [PYTHON, "-m", "estimation_engine", "smoke", "--url", url, "--expect-version", expected_version,
         "--wait", str(ENGINE_START_TIMEOUT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    print("   " + (smoke.stdout.strip() or smoke.stderr.strip()).replace("\n", "\n   "))
    if smoke.returncode != 0:
        sys.exit(
            f"demo: the smoke test failed (exit {smoke.returncode}); see {state_dir() / 'engine-demo.log'}"
        )
    house = {"Gr_Liv_Area": 1656, "Neighborhood": "North_Ames", "Year_Built": 1960, "Lot_Area": 31770,
             "Total_Bsmt_SF": 1080, "Garage_Cars": 2, "Full_Bath": 1, "Year_Sold": 2010}  # fmt: skip
    shell(f"curl -s {url}/v1/estimate -H 'content-type: application/json' -d '{{\"properties\": [...]}}'")
    answer = httpx.post(f"{url}/v1/estimate", json={"properties": [house]}, timeout=10).json()
    print(f"   {json.dumps(house)}")
    print(f"   -> {json.dumps(answer)}")


def canary(remote, config: Path) -> None:
    """Prod's previous and new model side by side, the new one comparing with the old, and the verdict."""
    if prod_shadow_version(remote) is None:
        print("   prod has had one model only: a challenger trained on another split goes through first")
        raw = yaml.safe_load(config.read_text())
        raw["split"]["seed"] = raw["split"]["seed"] + 1
        source = raw["data"]["source"]
        if not source.startswith("builtin:"):  # relative to the config it came from, not to .mlops/
            raw["data"]["source"] = str((config.parent / source).resolve())
        challenger = state_dir() / "demo-challenger.yaml"
        challenger.write_text(yaml.safe_dump(raw))
        run_job("dev", challenger, "--force")  # past the gate on purpose: the canary is the next judge
        merge_open("dev")
        promote_by_pr("dev", "qa")
        promote_by_pr("qa", "prod")
    previous = prod_shadow_version(remote)
    with remote.checkout() as checkout:
        objects = render_objects(checkout.path, "prod")
        stable = {"MODEL_VERSION": previous, "SHADOW_MODEL_VERSION": ""}
        with (
            engine_as_overlay(checkout.path, "prod", stable, "engine-stable.log") as stable_url,
            engine_as_overlay(checkout.path, "prod", None, "engine-canary.log") as canary_url,
        ):
            send_sample_traffic([stable_url, canary_url])
            exposition = httpx.get(f"{canary_url}/metrics", timeout=10).text
    print_verdict(objects, exposition)


def prod_shadow_version(remote) -> str | None:
    with remote.checkout() as checkout:
        text = checkout.read(str(shadow_pin_path("prod"))) or ""
    return text.partition("=")[2].strip() or None


def send_sample_traffic(urls: list[str], count: int = 200) -> None:
    """Single-property estimates of Ames houses to each engine, once it is ready and (the canary) comparing."""
    rows = pd.read_csv(project_root() / "training/data/ames.csv.gz").drop(columns="Sale_Price")
    records = rows.sample(n=count, random_state=0).to_dict("records")
    properties = [{k: v for k, v in row.items() if pd.notna(v)} for row in records]
    for url in urls:
        wait_until(url, "/health/ready", lambda answer: answer.status_code == 200)
    wait_until(urls[-1], "/metrics", lambda answer: "engine_shadow_compared_total{" in answer.text)
    shell(f"# {count} single-property POST /v1/estimate to each engine")
    for url in urls:
        with httpx.Client(base_url=url, timeout=10) as client:
            for house in properties:
                client.post("/v1/estimate", json={"properties": [house]}).raise_for_status()
    # The comparison runs after each answer: wait (bounded) until every property is compared or, when the
    # comparison fell behind (its queue is bounded; on a busy machine the shadow process, at the lowest
    # priority, may get little CPU), counted as dropped. The analysis judges what was compared.
    wait_until(urls[-1], "/metrics", lambda answer: sum(shadow_tally(answer.text)) >= count)
    done, dropped = shadow_tally(httpx.get(f"{urls[-1]}/metrics", timeout=10).text)
    print(f"   the canary compared {done:.0f} of {count} properties with the shadow model"
          + (f" ({dropped:.0f} dropped: the comparison was behind)" if dropped else ""))  # fmt: skip


def shadow_tally(exposition: str) -> tuple[float, float]:
    """Properties compared with the shadow model, and those dropped because the comparison was behind."""
    found = {"engine_shadow_compared_total": 0.0, "engine_shadow_dropped_total": 0.0}
    for name, _, value in samples(exposition):
        if name in found:
            found[name] += value
    return found["engine_shadow_compared_total"], found["engine_shadow_dropped_total"]


def wait_until(url: str, path: str, done, bound: float = ENGINE_START_TIMEOUT) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            if done(httpx.get(f"{url}{path}", timeout=5)):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"demo: {url}{path} not as expected after {bound:.0f}s; see the engine logs in {state_dir()}")


def print_verdict(objects: list[dict], exposition: str) -> None:
    templates = {o["metadata"]["name"]: o for o in objects if o["kind"] == "AnalysisTemplate"}
    rollout = next(o for o in objects if o["kind"] == "Rollout")
    judged = []
    for name, judge in (
        ("estimation-engine-serving", judge_serving),
        ("estimation-engine-shadow", judge_shadow),
    ):
        print(f"   AnalysisTemplate {name} (thresholds as prod renders them), on the canary's /metrics:")
        for result in judge(exposition, template_args(templates[name], rollout)):
            print(f"     {result.metric:<28} {result.value:>9.4f}  {result.rule:<40} {result.phase}")
            judged.append(result)
    phases = {result.phase for result in judged}
    if "Failed" in phases:
        print("   verdict: Failed: the Rollout would abort, the stable pods take all traffic, deploy-prod "
              "opens the rollback PR")  # fmt: skip
    elif "Inconclusive" in phases:
        print("   verdict: Inconclusive: the Rollout would pause for a person (too little evidence)")
    else:
        print("   verdict: Successful: the Rollout would go on to 50 %, analyse again, then take all traffic")


def pins_on_remote() -> dict[str, str]:
    pins = build_services(DeliverySettings.from_environment()).remote.read_pins()
    return {env: pins[env].describe() for env in ENVIRONMENTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="training config (default: shipped)"
    )
    args = parser.parse_args(argv)
    load_config(args.config)  # refuse a bad config before doing anything
    started = time.perf_counter()
    remote = build_services(DeliverySettings.from_environment()).remote

    banner("1. train, gate against dev's champion, register, open the bump PR, merge it")
    run_job("dev", args.config)
    if not merge_open("dev"):
        print("   nothing to merge: dev already pins the best model")

    banner("2. what the merged pin deploys: Argo CD's render and the dev stack's offline plan")
    with remote.checkout() as checkout:
        show_rendered_pin(checkout.path, "dev")
        show_planned_container(checkout.path, "dev")

    banner("3. promote dev -> qa -> prod by pull request")
    promote_by_pr("dev", "qa")
    promote_by_pr("qa", "prod")
    with remote.checkout() as checkout:
        prod_pin = show_rendered_pin(checkout.path, "prod")

        banner("4. serve prod's pin on 127.0.0.1 exactly as prod's overlay configures the engine")
        with engine_as_overlay(checkout.path, "prod") as url:
            smoke_and_estimate(url, prod_pin["MODEL_VERSION"])
            same_bytes_as_dev(url)

    banner("5. retrain on the same data: the gate must say 'no improvement'")
    before = pins_on_remote()
    run_job("dev", args.config)
    after = pins_on_remote()
    print(f"   pins unchanged: {before == after}")

    banner("6. prod's canary: the new model beside the one it replaces, judged by the canary analysis")
    canary(remote, args.config)

    summary(pins_on_remote(), time.perf_counter() - started)
    return 0


def summary(pins: dict[str, str], seconds: float) -> None:
    banner("7. summary")
    for env, pin in pins.items():
        print(f"   {env:<5} pins {pin}")
    prs = local_pull_requests().list_all()
    print(f"   pull requests: {len(prs)} in all, {sum(pr.state == 'merged' for pr in prs)} merged "
          "(python -m delivery prs --all)")  # fmt: skip
    state = state_dir()
    for env in ENVIRONMENTS:
        print(f"   {env} registry: {registry_dir(env) / 'mlflow.db'} (artifacts beside it)")
    print(f"   decision records and plots: {state / 'runs'}/<run id>/ (decision.json, plots/*.png)")
    print(f"   gitops remote: {state / 'gitops.git'}")
    print(
        f"   MLflow UI: .venv/bin/mlflow ui --backend-store-uri {default_tracking_uri('dev')} --host 127.0.0.1"
    )
    print("   next, with Azure credentials: pulumi stack select dev && pulumi up --refresh "
          "(see README, 'Going to Azure')")  # fmt: skip
    print(f"\ndemo finished in {seconds:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
