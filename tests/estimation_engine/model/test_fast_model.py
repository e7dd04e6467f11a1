"""The compiled evaluation gives pipeline.predict's numbers bit for bit, or is not used at all."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from estimation_engine.api.validation import BatchValidator
from estimation_engine.model.fast_path import UnsupportedModelError
from estimation_engine.model.fast_path.compile import compile_pipeline
from estimation_engine.model.fast_path.numeric import FEW_ROWS, _yeo_johnson
from estimation_engine.model.fast_path.tree_kernel import RowThreads
from estimation_engine.model.fast_path.verify import probe_columns, verify
from estimation_engine.settings import UnknownCategoryPolicy
from tests.estimation_engine.conftest import engine_env


def real_rows(ames: pd.DataFrame, count: int, seed: int) -> list[dict]:
    """Real Ames sales with some values knocked out or replaced by levels never seen in training."""
    records = ames.drop(columns="Sale_Price").sample(n=count, random_state=seed).to_dict("records")
    rows = [{k: v for k, v in row.items() if pd.notna(v)} for row in records]
    generator = np.random.default_rng(seed)
    for row in rows:
        for key in ("Lot_Frontage", "Garage_Type", "Mas_Vnr_Area"):
            if generator.random() < 0.3:
                row.pop(key, None)
        if generator.random() < 0.2:
            row["Exterior_1st"] = "Spaceship_Hull"
    return rows


@pytest.mark.parametrize(("rows", "threads"), [(1, 1), (3, 1), (200, 1), (300, 2), (700, 3)])
def test_compiled_equals_pipeline_predict_bit_for_bit(
    reference_models, registered_models, ames, rows, threads
):
    for version, model in reference_models.items():
        compiled = compile_pipeline(model.pipeline, model.card, threads)
        batch = BatchValidator(model.card, UnknownCategoryPolicy.WARN).validate(
            real_rows(ames, rows, version), "p"
        )
        expected = model.pipeline.predict(model.frame(real_rows(ames, rows, version)))
        assert np.array_equal(compiled(batch.columns, rows), expected), f"v{version}, {rows} rows"


def test_verify_accepts_the_training_codes_model_and_catches_a_difference(reference_models):
    model = next(iter(reference_models.values()))
    compiled = compile_pipeline(model.pipeline, model.card)
    assert verify(compiled, model.pipeline, model.card, pd.DataFrame) is None

    def off_by_a_hair(columns, rows):
        return compiled(columns, rows) * (1 + 1e-15)

    assert "differ" in verify(off_by_a_hair, model.pipeline, model.card, pd.DataFrame)


def level_kinds(values: np.ndarray, categories: tuple[str, ...]) -> set[str]:
    """Which kinds of value a categorical column holds: "known" levels, "unseen" levels, "missing"."""
    kinds = set()
    for value in values:
        if not isinstance(value, str):
            kinds.add("missing")
        else:
            kinds.add("known" if value in categories else "unseen")
    return kinds


def test_level_kinds_tells_known_from_unseen_and_missing():
    assert level_kinds(np.array(["a", "b"], dtype=object), ("a", "b")) == {"known"}
    assert level_kinds(np.array(["a", "zz", np.nan], dtype=object), ("a",)) == {"known", "unseen", "missing"}


def test_probe_rows_cover_known_missing_and_unseen_levels_of_every_categorical(reference_models):
    model = next(iter(reference_models.values()))
    columns = probe_columns(model.card, model.pipeline, rows=48, seed=0)
    categorical = {f.name: f.categories for f in model.card.features if f.kind != "numeric"}
    assert "Neighborhood" in categorical
    for name, categories in categorical.items():
        assert level_kinds(columns[name], categories) == {"known", "unseen", "missing"}, name
    assert np.isnan(columns["Lot_Area"]).any() and np.nanmedian(columns["Lot_Area"]) > 1000


def test_an_estimator_it_does_not_know_is_refused(reference_models, ames):
    model = next(iter(reference_models.values()))
    numeric = [f.name for f in model.card.features if f.kind == "numeric"][:3]
    frame = model.frame(real_rows(ames, 50, 0))
    bare = KNeighborsRegressor(n_neighbors=3).fit(frame[numeric].fillna(0), np.arange(50.0))
    with pytest.raises(UnsupportedModelError, match="KNeighborsRegressor at the top"):
        compile_pipeline(bare, model.card)
    three_steps = make_pipeline(
        ColumnTransformer([("n", "passthrough", numeric)]),
        StandardScaler(),
        KNeighborsRegressor(n_neighbors=3),
    ).fit(frame.fillna(0), np.arange(50.0))
    with pytest.raises(UnsupportedModelError, match="ColumnTransformer -> regressor"):
        compile_pipeline(three_steps, model.card)


def test_engine_can_be_told_to_use_the_pipeline_itself(
    engine_factory, registered_models, reference_models, tmp_path
):
    engine = engine_factory(engine_env(registered_models, tmp_path / "cache", ENGINE_FAST_PATH="false"))
    rows = list(registered_models.sample_rows)
    with engine.client() as client:
        assert client.get("/v1/model").json()["evaluation"] == "pipeline"
        prices = [
            e["price"] for e in client.post("/v1/estimate", json={"properties": rows}).json()["estimates"]
        ]
    reference = reference_models[registered_models.versions[0]]
    assert prices == reference.estimate(reference.frame(rows)).price.tolist()


@pytest.mark.parametrize("rows", [1, FEW_ROWS, 40])  # both branches picked per element; masked passes
@pytest.mark.parametrize("lambdas", [[0.5, -1.3, 2.7], [0.0, 2.0, 1e-20], [2.0 + 1e-17, -0.0, 1.0]])
def test_yeo_johnson_of_all_columns_at_once_equals_scipy_column_by_column(lambdas, rows):
    generator = np.random.default_rng(rows)
    values = generator.normal(0, 50, size=(max(rows, 3), len(lambdas)))
    values[generator.random(values.shape) < 0.2] = np.nan
    values[0] = [0.0, -0.0, -1e-300]
    values[-1] = [np.nan, 1e-300, -7.5]
    values = values[:rows]
    expected = np.column_stack([stats.yeojohnson(values[:, i], lmbda) for i, lmbda in enumerate(lambdas)])
    got = _yeo_johnson(np.asarray(lambdas))(values)
    assert np.array_equal(got, expected, equal_nan=True)


def test_rows_shared_among_threads_are_the_rows_of_one_thread():
    threads = RowThreads(3)
    try:
        shares: list[slice] = []
        threads.share(1000, shares.append)  # (appended from three threads, in any order)
        shares.sort(key=lambda part: part.start)
        assert shares[0].start == 0 and shares[-1].stop == 1000
        assert all(a.stop == b.start for a, b in itertools.pairwise(shares))
        assert len(shares) == 3
        small: list[slice] = []
        threads.share(RowThreads.MIN_SHARE + 5, small.append)
        assert small == [slice(0, RowThreads.MIN_SHARE + 5)]  # too few rows to be worth a second thread
    finally:
        threads.close()
