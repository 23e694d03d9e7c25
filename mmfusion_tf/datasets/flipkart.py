"""Flipkart product listings (PromptCloud sample, April 2016): photo + text + table -> 7 categories.

The folder is `flipkart_products/` of the shared data (CC BY-SA 4.0): `products.csv` and one JPEG
per product in `images/`. `flipkart_products(root)` returns a manifest (a dict of column arrays
that `mmf.data.make_dataset` and `Trainer` read: the `image` column holds file paths) and
`split_products` a seeded, stratified train/validation/test split.

Example:

>>> products = flipkart_products("../shared/data/flipkart_products")  # doctest: +SKIP
>>> train, val, test = split_products(products, seed=0)  # doctest: +SKIP
>>> sorted(set(train["category"]))[:2]  # doctest: +SKIP
['Baby Care', 'Beauty and Personal Care']
"""

import csv
import os

import numpy as np

CATEGORIES = (
    "Baby Care",
    "Beauty and Personal Care",
    "Computers",
    "Home Decor & Festive Needs",
    "Home Furnishing",
    "Kitchen & Dining",
    "Watches",
)
NUMERIC_COLUMNS = ("log_retail_price", "log_discounted_price", "discount", "rating")
CATEGORICAL_COLUMNS = ("brand",)
MANIFEST_FILE = "products.csv"
IMAGE_FOLDER = "images"
_NO_RATING = "No rating available"


def _category_path(tree, row):
    # '["Watches >> Wrist Watches >> ..."]' -> ["Watches", "Wrist Watches", ...]
    text = tree.strip().removeprefix("[").removesuffix("]").strip().strip('"')
    parts = [p.strip() for p in text.split(">>") if p.strip()]
    if not parts:
        raise ValueError(f"{MANIFEST_FILE} row {row}: empty `product_category_tree` ({tree!r}).")
    return parts


def _price(value, column, row):
    if not value:
        return np.nan
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{MANIFEST_FILE} row {row}: `{column}` is not a number: {value!r}") from None


def flipkart_products(root):
    """The products of `root` (the `flipkart_products` folder) as a dict of numpy arrays over rows.

    Keys: `image` (absolute JPEG path), `text` (product name + ". " + description),
    `category` (first level of the category tree, one of `CATEGORIES`), `subcategory`
    (second level, "" when absent), the `NUMERIC_COLUMNS` as float32 (`log_retail_price` and
    `log_discounted_price` = log(1 + rupees), `discount` = 1 − discounted / retail, `rating` =
    product rating 1–5; NaN where missing: ~85 % of products have no rating), `brand` (str,
    "" when missing) and `uniq_id`.

    Raises:
        FileNotFoundError: `root`, its `products.csv`, or a product's image is missing (the message
            names the file and the CSV row).
        ValueError: a row has a malformed category tree or price (named by row).
    """
    root = os.fspath(root)
    manifest = os.path.join(root, MANIFEST_FILE)
    if not os.path.isfile(manifest):
        raise FileNotFoundError(
            f"Flipkart products not found: {manifest}. Expected the shared data folder flipkart_products/ "
            "(products.csv + images/)."
        )
    columns = {k: [] for k in ("uniq_id", "image", "text", "category", "subcategory", "brand", *NUMERIC_COLUMNS)}
    with open(manifest, encoding="utf-8", newline="") as f:
        for row, record in enumerate(csv.DictReader(f), start=2):  # row 1 is the header
            image = os.path.abspath(os.path.join(root, IMAGE_FOLDER, record["image"]))
            if not os.path.isfile(image):
                raise FileNotFoundError(f"{manifest} row {row}: image file not found: {image}")
            tree = _category_path(record["product_category_tree"], row)
            retail = _price(record["retail_price"], "retail_price", row)
            discounted = _price(record["discounted_price"], "discounted_price", row)
            rating = record["product_rating"].strip()
            columns["uniq_id"].append(record["uniq_id"])
            columns["image"].append(image)
            columns["text"].append(f"{record['product_name'].strip()}. {record['description'].strip()}")
            columns["category"].append(tree[0])
            columns["subcategory"].append(tree[1] if len(tree) > 1 else "")
            columns["brand"].append(record["brand"].strip())
            columns["log_retail_price"].append(np.log1p(retail))
            columns["log_discounted_price"].append(np.log1p(discounted))
            columns["discount"].append(1.0 - discounted / retail if retail and retail > 0 else np.nan)
            columns["rating"].append(np.nan if rating in ("", _NO_RATING) else float(rating))
    unknown = sorted(set(columns["category"]) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"{manifest}: categories outside the 7 expected: {unknown}")
    return {k: np.array(v, dtype="float32" if k in NUMERIC_COLUMNS else object) for k, v in columns.items()}


def split_products(products, fractions=(0.7, 0.1, 0.2), seed=0, label="category"):
    """Stratified train / validation / test split of `products` (a dict of equal-length arrays).

    Each class is shuffled with one seeded generator and cut by `fractions`, so every split keeps
    the class balance; the same `seed` always gives the same split. Rows keep the file order
    within each split.

    Example:

    >>> data = {"category": np.array(list("aaaaabbbbb"), object), "x": np.arange(10)}
    >>> train, val, test = split_products(data, (0.6, 0.2, 0.2))
    >>> sorted(train["category"]), len(set(train["x"]) & set(test["x"]))
    (['a', 'a', 'a', 'b', 'b', 'b'], 0)
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"`fractions` must be 3 non-negative numbers summing to 1. Received: fractions={fractions}")
    if label not in products:
        raise ValueError(f"`label`={label!r} is not a column. Columns: {sorted(products)}")
    labels = np.asarray(products[label])
    rng = np.random.default_rng(seed)
    parts = [[], [], []]
    for value in sorted(set(labels.tolist())):
        rows = rng.permutation(np.flatnonzero(labels == value))
        cut = np.round(np.cumsum(fractions[:2]) * len(rows)).astype(int)
        for part, chunk in zip(parts, np.split(rows, cut)):
            part.extend(chunk.tolist())
    return [{k: np.asarray(v)[np.sort(part)] for k, v in products.items()} for part in parts]
