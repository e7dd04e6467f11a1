"""The compiled model, only once it has been verified equal to ``pipeline.predict`` (else None).

The engine and the batch command both serve through it: a model the fast path cannot compile, or whose
compiled form disagrees with the pipeline on the probe rows, is served by ``pipeline.predict`` instead,
with the reason logged, never by a fast path that would answer other numbers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from estimation_engine.model.model_loading import ServedModel

if TYPE_CHECKING:
    from estimation_engine.model.fast_path import Predict

log = logging.getLogger(__name__)


def verified_fast_path(served: ServedModel, threads: int) -> Predict | None:
    """Compile ``served``'s pipeline for ``threads`` threads and verify it, or None with the reason logged."""
    from estimation_engine.model.fast_path import UnsupportedModelError
    from estimation_engine.model.fast_path.compile import compile_pipeline
    from estimation_engine.model.fast_path.verify import verify  # imports scikit-learn

    model = served.model
    try:
        compiled = compile_pipeline(model.pipeline, model.card, threads)
        difference = verify(compiled, model.pipeline, model.card, pd.DataFrame)
    except UnsupportedModelError as error:
        log.info("fast path not available for this model (%s): using pipeline.predict", error)
        return None
    if difference is not None:
        log.warning("fast path disagrees with the pipeline (%s): using pipeline.predict", difference)
        return None
    log.info("fast path verified equal to pipeline.predict on probe rows", extra={"event": "fast_path"})
    return compiled
