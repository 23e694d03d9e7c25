"""How much R² is there to win on Airbnb Boston (log price), whatever the model? A reference for the peer bench.

Same split as `bench/results.py` and `bench/peer_ludwig.py` (every listing with a price, 70/10/20, seed 0).
Strong classical models, trained on the training split, scored on the test split by the same R²:

- gradient-boosted trees on the 14 table columns (scikit-learn `HistGradientBoostingRegressor`,
  categorical columns native);
- TF-IDF (1-2 grams) of the text + ridge regression;
- their average, and trees on the table + the text model's out-of-fold prediction (stacking).

It also reports the listings whose price is $0-$10 (no such price is learnable from the text or the
table) and their share of the test residual: they bound what any model can reach.

    python bench/airbnb_ceiling.py --json docs/bench_results/airbnb_ceiling.json

Needs scikit-learn (not a dependency of the package: `pip install scikit-learn`).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from mmfusion_tf.datasets.airbnb import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS  # noqa: E402
from peer_ludwig import AIRBNB, FRACTIONS  # noqa: E402
from results import airbnb_splits  # noqa: E402


def table_matrix(split, train):
    """Numeric columns as they are, categorical ones as codes of the training split's categories (-1: unseen)."""
    columns = [split[c] for c in NUMERIC_COLUMNS]
    for c in CATEGORICAL_COLUMNS:
        codes = {v: i for i, v in enumerate(sorted(set(train[c])))}
        columns.append(np.array([codes.get(v, -1) for v in split[c]], "float64"))
    return np.stack(columns, 1)


def main(argv=None):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import cross_val_predict

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airbnb", default=AIRBNB)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    splits, total, sizes = airbnb_splits(args.airbnb, None, FRACTIONS)
    train, test = splits["train"], splits["test"]
    y_train, y_test = train["label"], test["label"]
    categorical = list(range(len(NUMERIC_COLUMNS), len(NUMERIC_COLUMNS) + len(CATEGORICAL_COLUMNS)))

    def trees(x_train, x_test):
        model = HistGradientBoostingRegressor(categorical_features=categorical, random_state=0)
        return model.fit(x_train, y_train).predict(x_test)

    x_train, x_test = table_matrix(train, train), table_matrix(test, train)
    table = trees(x_train, x_test)
    tfidf = TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True)
    words_train = tfidf.fit_transform(train["text"])
    text = Ridge(alpha=3.0).fit(words_train, y_train).predict(tfidf.transform(test["text"]))
    out_of_fold = cross_val_predict(Ridge(alpha=3.0), words_train, y_train, cv=5)
    stacked = trees(np.c_[x_train, out_of_fold], np.c_[x_test, text])
    cheap = y_test < np.log1p(10.0)
    residual = (y_test - (table + text) / 2) ** 2
    results = {
        "benchmark": "airbnb_ceiling", "listings_with_price": total,
        "sizes": dict(zip(("train", "val", "test"), sizes)),
        "test_r2": {
            "trees on the table": round(r2_score(y_test, table), 4),
            "tf-idf text + ridge": round(r2_score(y_test, text), 4),
            "average of the two": round(r2_score(y_test, (table + text) / 2), 4),
            "trees on table + text prediction (stacked)": round(r2_score(y_test, stacked), 4),
        },
        "listings_under_10_dollars": {"train": int((y_train < np.log1p(10.0)).sum()), "test": int(cheap.sum()),
                                      "test_at_0_dollars": int((y_test == 0).sum()),
                                      "share_of_test_squared_error_of_the_average": round(
                                          float(residual[cheap].sum() / residual.sum()), 3)},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
