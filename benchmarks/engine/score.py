"""The Azure ML inference server's entry script for the benchmark: the same artifact, the same loader and
the same PriceModel.frame/estimate calls as the engine — the way an MLOpsPython-style score.py serves it.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ["ENGINE_REPO_ROOT"])  # model_contract.artifact: numpy + pandas only

from model_contract.artifact import load_model_artifact

model = None


def init():
    global model
    model = load_model_artifact(Path(os.environ["AZUREML_MODEL_DIR"]), os.environ.get("MODEL_SHA256") or None)


def run(raw_data):
    records = json.loads(raw_data)["data"]
    estimates = model.estimate(model.frame(records))
    return {"result": estimates.price.tolist()}
