"""Reading and fingerprinting training data without copying it: same answers as before, in less memory.

The CSV parser reads the file's bytes directly and the truncation check looks only at the first and last
lines; the fingerprint hashes typed values column by column. These tests pin the behaviour that must not
change with that: what is refused, and what makes two datasets the same or different.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.dataset import DataError, fingerprint, load_dataset, read_table


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "area": [50.0, 72.5, np.nan, 120.0], "district": ["Hafen", "Westend", None, "Hafen"],
        "price": [150_000.0, 260_000.0, 90_000.0, 410_000.0],
    })  # fmt: skip


def _fingerprint(frame: pd.DataFrame) -> str:
    return fingerprint(frame.drop(columns="price"), frame["price"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"area,district,price\n", "has a header but no data rows"),
        (b"area,district,price\r\n\r\n", "has a header but no data rows"),
        (
            b"area,district,price\n50,Hafen,150000\n72.5,Westend",
            "last line has 2 fields but the header has 3",
        ),
        (
            b"area,district,price\r\n50,Hafen,150000\r\n72.5\r\n",
            "last line has 1 fields but the header has 3",
        ),
        (b"  \n\n", "file is empty"),
    ],
)
def test_a_file_without_complete_rows_is_refused(content, message):
    with pytest.raises(DataError, match=message):
        read_table("sales.csv", content)


def test_line_endings_and_a_missing_final_newline_read_the_same_table():
    unix = b"area,district,price\n50,Hafen,150000\n72.5,Westend,260000\n"
    windows = unix.replace(b"\n", b"\r\n")
    pd.testing.assert_frame_equal(read_table("a.csv", unix), read_table("b.csv", windows))
    pd.testing.assert_frame_equal(read_table("a.csv", unix), read_table("c.csv", unix.rstrip(b"\n")))


def test_bytes_that_are_not_utf8_are_replaced_not_fatal():
    frame = read_table("latin1.csv", "area,district,price\n50,Altstädt,150000\n".encode("latin-1"))
    assert frame.loc[0, "district"] == "Altst\ufffddt"


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.__setitem__("area", f["area"].where(f.index != 1, 72.6)),
        lambda f: f.__setitem__("district", f["district"].where(f.index != 0, "Westend")),
        lambda f: f.__setitem__("district", f["district"].where(f.index != 0, None)),
        lambda f: f.__setitem__("district", f["district"].where(f.index != 2, "None")),
        lambda f: f.__setitem__("price", f["price"].where(f.index != 3, 410_001.0)),
        lambda f: f.rename(columns={"area": "area_sqm"}, inplace=True),
    ],
)
def test_any_changed_value_or_name_changes_the_fingerprint(change):
    changed = _frame()
    change(changed)
    assert _fingerprint(changed) != _fingerprint(_frame())


def test_the_fingerprint_ignores_the_row_index():
    shifted = _frame().set_axis([10, 11, 12, 13])
    assert _fingerprint(shifted) == _fingerprint(_frame())


def test_a_column_without_values_matters_only_when_it_is_a_feature(tmp_path, small_config):
    frame = pd.read_csv(tmp_path / "config" / "slice.csv").assign(Notes=None)
    frame.to_csv(tmp_path / "config" / "notes.csv", index=False)
    features = tuple(c for c in frame.columns if c not in ("Sale_Price", "Notes"))
    data = small_config.data.model_copy(update={"source": "notes.csv", "features": features})
    dataset = load_dataset(small_config.model_copy(update={"data": data}))
    assert "Notes" not in dataset.features.columns
    with pytest.raises(DataError, match="'Notes' have no values at all"):
        data = small_config.data.model_copy(update={"source": "notes.csv"})
        load_dataset(small_config.model_copy(update={"data": data}))
