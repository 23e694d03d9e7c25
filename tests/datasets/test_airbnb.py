"""`airbnb_listings`: the shared Airbnb Boston file as arrays."""

import os

import numpy as np
import pytest

from mmfusion_tf.datasets.airbnb import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS, airbnb_listings, split_listings

LISTINGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "airbnb_boston",
                        "listings.csv.gz")


def test_missing_file_names_it_and_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"listings.csv.gz.*Heitorcp/airbnb_boston"):
        airbnb_listings(str(tmp_path / "listings.csv.gz"))


@pytest.mark.skipif(not os.path.exists(LISTINGS), reason="offline data folder ../shared/data/airbnb_boston is absent")
def test_priced_listings_with_text_tables_and_log_price():
    listings = airbnb_listings(LISTINGS)
    assert set(listings) == {"text", "log_price", *NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS}
    n = len(listings["log_price"])
    assert 3000 < n <= 3349 and all(len(v) == n for v in listings.values())
    assert listings["log_price"].dtype == np.float32 and 2.0 < float(np.median(listings["log_price"])) < 7.0
    assert not any("<br />" in t or "<b>" in t for t in listings["text"])
    assert set(listings["shared_bath"]) == {"yes", "no"}
    assert np.isnan(listings["bedrooms"]).any() and np.nanmax(listings["accommodates"]) >= 10


def test_split_listings_cuts_one_seeded_permutation_into_disjoint_sizes():
    listings = {"log_price": np.arange(20.0), "text": np.array([f"t{i}" for i in range(20)], dtype=object)}
    parts = split_listings(listings, (10, 4, 6), seed=3)
    assert [len(p["log_price"]) for p in parts] == [10, 4, 6]
    assert sorted(np.concatenate([p["log_price"] for p in parts])) == list(range(20))  # disjoint, all rows
    assert all((p["text"] == np.array([f"t{int(v)}" for v in p["log_price"]], dtype=object)).all() for p in parts)
    again = split_listings(listings, (10, 4, 6), seed=3)
    assert all((a["log_price"] == b["log_price"]).all() for a, b in zip(parts, again))
    with pytest.raises(ValueError, match=r"`sizes` ask for 21 listings; there are 20"):
        split_listings(listings, (20, 1), seed=0)
