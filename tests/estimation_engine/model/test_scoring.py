"""The scorer's input frame is the training code's frame, so its numbers are PriceModel.estimate's."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd

from estimation_engine.api.validation import BatchValidator
from estimation_engine.model.scoring import Scorer
from estimation_engine.settings import UnknownCategoryPolicy


def mixed_rows(sample_rows) -> list[dict]:
    """Sample rows plus rows with missing optional features, nulls and an unknown category."""
    rows = [dict(row) for row in sample_rows]
    rows.append(
        {key: value for key, value in rows[0].items() if key not in ("Lot_Frontage", "Alley", "Fence")}
    )
    rows.append({**rows[1], "Garage_Type": None, "Mas_Vnr_Area": None, "Exterior_1st": "Spaceship_Hull"})
    return rows


def test_frame_equals_the_training_codes_frame(reference_models, registered_models):
    model = reference_models[registered_models.versions[0]]
    rows = mixed_rows(registered_models.sample_rows)
    batch = BatchValidator(model.card, UnknownCategoryPolicy.WARN).validate(rows, "properties")
    scorer = Scorer(model, max_rows_per_call=1000)
    try:
        pd.testing.assert_frame_equal(scorer.frame([batch]), model.frame(rows))
        halves = [
            BatchValidator(model.card, UnknownCategoryPolicy.WARN).validate(part, "p")
            for part in (rows[:3], rows[3:])
        ]
        pd.testing.assert_frame_equal(scorer.frame(halves), model.frame(rows))
    finally:
        scorer.close()


def test_coalesced_jobs_get_their_own_rows_back(reference_models, registered_models):
    model = reference_models[registered_models.versions[0]]
    rows = mixed_rows(registered_models.sample_rows)
    validator = BatchValidator(model.card, UnknownCategoryPolicy.WARN)
    scorer = Scorer(model, max_rows_per_call=4)  # small budget: some jobs must wait for the next call

    async def all_at_once():
        return await asyncio.gather(*(scorer.estimate(validator.validate([row], "p")) for row in rows))

    try:
        results = asyncio.run(all_at_once())
    finally:
        scorer.close()
    expected = model.estimate(model.frame(rows)).price
    np.testing.assert_allclose([result.price[0] for result in results], expected, rtol=1e-12)
