"""Splitting rows by a seeded hash of their content: stable across data versions, disjoint, seeded."""

from dataclasses import replace

import numpy as np

from training.config import SplitConfig
from training.dataset import load_dataset
from training.train import split_rows


def test_parts_are_disjoint_cover_every_row_and_follow_the_fractions(small_config):
    dataset = load_dataset(small_config)
    split = split_rows(dataset, small_config.split)
    every = np.concatenate([split.train, split.calibration, split.test])
    assert sorted(every.tolist()) == list(range(len(dataset)))
    assert abs(len(split.test) / len(dataset) - small_config.split.test_fraction) < 0.06
    assert abs(len(split.calibration) / len(dataset) - small_config.split.calibration_fraction) < 0.06


def test_a_row_keeps_its_part_when_the_data_grows_or_shrinks(small_config):
    dataset = load_dataset(small_config)
    full = split_rows(dataset, small_config.split)
    later = replace(dataset, features=dataset.features.iloc[50:].reset_index(drop=True),
                    target=dataset.target.iloc[50:].reset_index(drop=True))  # fmt: skip
    part = split_rows(later, small_config.split)
    for name in ("train", "calibration", "test"):
        assert set((getattr(part, name) + 50).tolist()) <= set(getattr(full, name).tolist()), name


def test_the_seed_chooses_the_parts(small_config):
    dataset = load_dataset(small_config)
    same = split_rows(dataset, small_config.split), split_rows(dataset, small_config.split)
    assert np.array_equal(same[0].test, same[1].test)
    other = split_rows(dataset, SplitConfig(seed=small_config.split.seed + 1))
    assert not np.array_equal(same[0].test, other.test)
