"""Inside Airbnb's Boston listings (December 2021): text + table columns + price, as arrays.

The file is `airbnb_boston/listings.csv.gz` of the shared data folder (CC BY 4.0, Inside Airbnb,
via github.com/Heitorcp/airbnb_boston). Only listings with a price are kept, in file order.

Example:

>>> listings = airbnb_listings("../shared/data/airbnb_boston/listings.csv.gz")  # doctest: +SKIP
>>> listings["log_price"][:2], listings["room_type"][:2]  # doctest: +SKIP
(array([4.83, 5.3 ], dtype=float32), array(['Entire home/apt', 'Private room'], dtype=object))
"""

import csv
import gzip
import os
import re

import numpy as np

NUMERIC_COLUMNS = ("latitude", "longitude", "accommodates", "bedrooms", "beds", "bathrooms", "minimum_nights",
                   "number_of_reviews", "review_scores_rating")
CATEGORICAL_COLUMNS = ("room_type", "property_type", "neighbourhood_cleansed", "instant_bookable", "shared_bath")
_TAG = re.compile(r"<[^>]+>")
_NUMBER = re.compile(r"[\d.]+")


def airbnb_listings(path):
    """The priced listings of `path` as a dict of numpy arrays over rows.

    Keys: `"text"` (name + description, HTML tags removed), `"log_price"` (float32
    log(1 + dollars)), the `NUMERIC_COLUMNS` (float32, NaN where missing; `bathrooms` is the
    number in `bathrooms_text`) and the `CATEGORICAL_COLUMNS` (str; `shared_bath` is "yes"
    when `bathrooms_text` says shared).

    Raises:
        FileNotFoundError: `path` does not exist (message names it).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Airbnb listings not found: {path}. Download data/listings.csv.gz from github.com/Heitorcp/airbnb_boston."
        )
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["price"]]
    columns = {
        "text": np.array([_TAG.sub(" ", f"{r['name']}. {r['description']}") for r in rows], dtype=object),
        "log_price": np.log1p(np.array([float(r["price"].strip("$").replace(",", "")) for r in rows], "float32")),
    }
    for name in NUMERIC_COLUMNS:
        values = [r["bathrooms_text" if name == "bathrooms" else name] for r in rows]
        columns[name] = np.array([_number(v) for v in values], "float32")
    for name in CATEGORICAL_COLUMNS:
        if name == "shared_bath":
            columns[name] = np.array(["yes" if "shared" in r["bathrooms_text"].lower() else "no" for r in rows], object)
        else:
            columns[name] = np.array([r[name] for r in rows], dtype=object)
    return columns


def split_listings(listings, sizes, seed=0):
    """Disjoint random subsets of `listings` (`airbnb_listings`' dict), one per entry of `sizes`.

    One seeded permutation of the rows, cut into consecutive pieces: e.g. train / validation / test.

    Example:

    >>> train, val, test = split_listings({"log_price": np.arange(10.0)}, (6, 2, 2), seed=0)
    >>> len(train["log_price"]), len(set(train["log_price"]) & set(test["log_price"]))
    (6, 0)
    """
    total = len(listings["log_price"])
    if sum(sizes) > total:
        raise ValueError(f"`sizes` ask for {sum(sizes)} listings; there are {total}. Received: sizes={tuple(sizes)}")
    order = np.random.default_rng(seed).permutation(total)
    bounds = np.cumsum([0, *sizes])
    return [{k: v[order[start:end]] for k, v in listings.items()} for start, end in zip(bounds[:-1], bounds[1:])]


def _number(text):
    match = _NUMBER.search(text or "")
    return float(match.group()) if match else np.nan
