"""``python -m training.azureml.step <step>``: the command line of each Azure ML pipeline component.

Every step calls the local runner's own step functions (training.steps) and only adds the file
handoff between jobs (prepared_data, handoff). Inside Azure ML, ``MLFLOW_TRACKING_URI`` points at the
workspace, so the registry is the workspace's; gitops settings come from ``GITOPS_*`` variables and the
token from the key vault (gitops_token). Exit codes follow ``python -m training``: 0 when the step did
what the decision says (including nothing), 2 for wrong input, 1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from model_contract.artifact import load_model_artifact
from model_contract.pins import ENVIRONMENTS
from model_contract.registry import ModelRegistry
from training import decision_record, steps, tracking
from training.azureml.handoff import (
    BUMP_FILE,
    MODEL_FOLDER,
    REGISTRATION_FILE,
    TRAINING_FILE,
    BumpRecord,
    HandoffError,
    Registration,
    TrainingRecord,
    champion_pin_from_decision,
    evaluation_from_decision,
    read_decision,
    read_registration,
    read_training,
    write_record,
)
from training.azureml.prepared_data import read_prepared, write_prepared
from training.config import TrainingConfig, load_config
from training.train import split_rows

STEPS = ("prepare", "train", "evaluate", "register", "bump")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from training.cli import USER_ERRORS

    try:
        return args.handler(args)
    except (*USER_ERRORS, steps.ChampionError, HandoffError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    """The steps and their options: the component command lines in training/azureml/components.py."""
    root = argparse.ArgumentParser(
        prog="python -m training.azureml.step", description=__doc__.splitlines()[0]
    )
    commands = root.add_subparsers(dest="step", required=True, metavar="STEP")

    prepare = commands.add_parser("prepare", help="validate the data and write the prepared-data folder")
    prepare.add_argument("--config", type=Path, required=True)
    prepare.add_argument("--data", type=Path, help="data file to use instead of the config's data.source")
    prepare.add_argument("--output", type=Path, required=True)
    prepare.set_defaults(handler=_prepare)

    train = commands.add_parser("train", help="fit the challenger; write its artifact, split and run")
    train.add_argument("--config", type=Path, required=True)
    train.add_argument("--prepared", type=Path, required=True)
    train.add_argument("--env", choices=ENVIRONMENTS, required=True)
    train.add_argument("--code-version", default="", help="git commit of the submitted code")
    train.add_argument("--output", type=Path, required=True)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="gate the challenger against the env's champion")
    evaluate.add_argument("--config", type=Path, required=True)
    evaluate.add_argument("--prepared", type=Path, required=True)
    evaluate.add_argument("--model", type=Path, required=True, help="the train step's output folder")
    evaluate.add_argument("--env", choices=ENVIRONMENTS, required=True)
    evaluate.add_argument(
        "--force", type=_boolean, default=False, help="true|false: register even if not better"
    )
    evaluate.add_argument(
        "--switch-model", type=_boolean, default=False,
        help="true|false: replace a champion that cannot be compared (another model name or features)",
    )  # fmt: skip
    evaluate.add_argument("--output", type=Path, required=True)
    evaluate.set_defaults(handler=_evaluate)

    register = commands.add_parser("register", help="register the challenger if the decision says so")
    register.add_argument("--config", type=Path, required=True)
    register.add_argument("--model", type=Path, required=True, help="the train step's output folder")
    register.add_argument("--decision", type=Path, required=True, help="the evaluate step's output folder")
    register.add_argument("--output", type=Path, required=True)
    register.set_defaults(handler=_register)

    bump = commands.add_parser("bump", help="open the bump pull request if a version was registered")
    bump.add_argument("--decision", type=Path, required=True, help="the evaluate step's output folder")
    bump.add_argument("--registration", type=Path, required=True, help="the register step's output folder")
    bump.add_argument("--output", type=Path, required=True)
    bump.set_defaults(handler=_bump)
    return root


def _prepare(args: argparse.Namespace) -> int:
    config = _with_data(load_config(args.config), args.data)
    dataset = steps.prepare(config)
    write_prepared(dataset, args.output)
    print(f"prepared {len(dataset)} rows from {dataset.source}, fingerprint {dataset.fingerprint}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from delivery.git import head_commit
    from model_contract.local_state import project_root

    config = load_config(args.config)
    dataset = read_prepared(args.prepared)
    code_version = args.code_version or head_commit(project_root()) or "unknown"
    split = split_rows(dataset, config.split)
    registry = _registry(args.env)
    tags = {"env": args.env, "git_commit": code_version, "step": "train"}
    with tracking.tracked_run(registry.tracking_uri, config.model_name, f"train-{args.env}", tags) as run:
        model = steps.train(config, dataset, split, code_version, run.run_id)
        steps.record_training(config, args.env, dataset, split, model, args.output / "plots")
        sha256 = steps.save_artifact(model, dataset, args.output / MODEL_FOLDER)
        steps.log_artifact(args.output / MODEL_FOLDER)
    record = TrainingRecord.from_split(
        split, run_id=run.run_id, artifact_uri=run.artifact_uri, experiment_id=run.experiment_id,
        sha256=sha256, code_version=code_version, env=args.env,
    )  # fmt: skip
    write_record(record, args.output, TRAINING_FILE)
    print(f"trained run {run.run_id}: {config.gate.metric} {model.card.metrics[config.gate.metric]:.4f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.azureml.gitops_token import ensure_gitops_token
    from training.services import job_services

    config = load_config(args.config)
    ensure_gitops_token()
    services = job_services()
    # The champion first: if it cannot be read, the gate cannot be trusted and nothing else matters.
    registry = services.registry(args.env)
    champion = steps.read_champion(args.env, services.remote, registry)
    dataset = read_prepared(args.prepared)
    trained = read_training(args.model)
    model = load_model_artifact(args.model / MODEL_FOLDER, trained.sha256)
    tags = {"env": args.env, "step": "evaluate", "challenger_run_id": trained.run_id}
    with tracking.tracked_run(registry.tracking_uri, config.model_name, f"evaluate-{args.env}", tags):
        evaluation = steps.evaluate(
            config, dataset, trained.split, dict(model.card.metrics), champion, args.force, args.switch_model
        )
        steps.record_evaluation(evaluation)
    record = decision_record.decision_record(
        config, args.env, dataset.fingerprint, evaluation, trained.run_id
    )
    record["experiment_id"] = trained.experiment_id
    record["champion_pin"] = {
        "name": champion.pin.name, "version": champion.pin.version, "text": champion.pin_text
    }  # fmt: skip
    decision_record.write_decision(args.output, record)
    print(f"verdict: {evaluation.verdict.reason}")
    return 0


def _register(args: argparse.Namespace) -> int:
    decision = read_decision(args.decision)
    if not decision["verdict"]["register"]:
        reason = f"nothing registered: {decision['verdict']['reason']}"
        write_record(Registration(False, reason), args.output, REGISTRATION_FILE)
        print(reason)
        return 0
    config = load_config(args.config)
    trained = read_training(args.model)
    if trained.run_id != decision["run_id"]:
        raise HandoffError(
            f"decision is for run {decision['run_id']}, the model is from run {trained.run_id}"
        )
    card = load_model_artifact(args.model / MODEL_FOLDER, trained.sha256).card
    run = tracking.TrackedRun(trained.run_id, trained.artifact_uri, trained.experiment_id)
    version = steps.register(
        config, card, trained.sha256, run, trained.code_version, _registry(decision["env"])
    )
    reason = f"registered {version.name} v{version.version} ({decision['verdict']['outcome']})"
    write_record(Registration(True, reason, version.name, version.version), args.output, REGISTRATION_FILE)
    print(reason)
    return 0


def _bump(args: argparse.Namespace) -> int:
    from training.azureml.gitops_token import ensure_gitops_token
    from training.services import job_services

    registration = read_registration(args.registration)
    if not registration.registered or registration.name is None or registration.version is None:
        write_record(BumpRecord("skipped", registration.reason), args.output, BUMP_FILE)
        print(f"no pull request: {registration.reason}")
        return 0
    decision = read_decision(args.decision)
    ensure_gitops_token()
    services = job_services()
    registry = services.registry(decision["env"])
    version = registry.get(registration.name, registration.version)
    pin, pin_text = champion_pin_from_decision(decision)
    link = steps.run_link(registry.tracking_uri, decision["experiment_id"])
    result = steps.bump(
        decision["env"], version, evaluation_from_decision(decision), pin, pin_text, services, link
    )
    pr = result.pull_request
    record = BumpRecord(
        result.status, f"{decision['env']}: {result.status}", pr.number if pr else None, pr.url if pr else None,
        tuple(result.superseded),
    )  # fmt: skip
    write_record(record, args.output, BUMP_FILE)
    print(f"pull request: {result.status}" + (f": #{pr.number} {pr.url}" if pr else ""))
    return 0


def _with_data(config: TrainingConfig, data: Path | None) -> TrainingConfig:
    """The config reading ``data`` (the component's mounted input) instead of its own data.source."""
    if data is None:
        return config
    return config.model_copy(update={"data": config.data.model_copy(update={"source": str(data.resolve())})})


def _registry(env: str) -> ModelRegistry:
    """The environment's registry alone (train and register need no gitops remote)."""
    from training.services import job_registry

    return job_registry(env)


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


if __name__ == "__main__":
    sys.exit(main())
