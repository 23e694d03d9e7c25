"""`flipkart_products`: the shared Flipkart sample as a manifest; `split_products`: the fixed split."""

import collections
import os

import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf.datasets.flipkart import (
    CATEGORICAL_COLUMNS,
    CATEGORIES,
    NUMERIC_COLUMNS,
    flipkart_products,
    split_products,
)
from tests import hub_modules as hm

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "flipkart_products")
needs_data = pytest.mark.skipif(
    not os.path.isdir(ROOT), reason="offline data folder ../shared/data/flipkart_products is absent"
)
HEADER = (
    "uniq_id,product_name,description,product_category_tree,retail_price,discounted_price,image,"
    "is_FK_Advantage_product,product_rating,overall_rating,brand,product_specifications\n"
)


def _folder(tmp_path, rows):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"\xff\xd8not really")
    (tmp_path / "products.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    return str(tmp_path)


def test_missing_folder_image_and_bad_rows_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Flipkart products not found: .*products.csv"):
        flipkart_products(str(tmp_path / "nowhere"))
    good = 'u1,Watch A,"Nice watch",["Watches >> Wrist Watches"],100,80,a.jpg,False,4,4,Brand,{}\n'
    folder = _folder(tmp_path, [good, 'u2,B,"b",["Watches"],100,80,b.jpg,False,4,4,,{}\n'])
    with pytest.raises(FileNotFoundError, match=r"products.csv row 3: image file not found: .*images/b.jpg"):
        flipkart_products(folder)
    (tmp_path / "products.csv").write_text(HEADER + good + 'u3,C,"c",["Watches"],cheap,80,a.jpg,False,4,4,,{}\n')
    with pytest.raises(ValueError, match=r"row 3: `retail_price` is not a number: 'cheap'"):
        flipkart_products(folder)
    (tmp_path / "products.csv").write_text(HEADER + good)
    one = flipkart_products(folder)
    assert one["text"][0] == "Watch A. Nice watch" and one["subcategory"][0] == "Wrist Watches"
    np.testing.assert_allclose([one["discount"][0], one["rating"][0]], [0.2, 4.0])
    np.testing.assert_allclose(one["log_retail_price"][0], np.log1p(100.0), rtol=1e-6)


@needs_data
def test_real_products_as_a_manifest():
    products = flipkart_products(ROOT)
    n = len(products["category"])
    assert n == 1047 and all(len(v) == n for v in products.values())
    assert set(products) >= {"image", "text", "category", "subcategory", *NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS}
    counts = collections.Counter(products["category"])
    assert sorted(counts) == sorted(CATEGORIES) and min(counts.values()) >= 148
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in products["image"])
    assert all(len(t) > 10 for t in products["text"])
    assert 0.8 < np.isnan(products["rating"]).mean() < 0.9  # "No rating available" on most products
    assert np.nanmin(products["discount"]) >= 0.0 and np.isnan(products["log_retail_price"]).sum() == 1


@needs_data
def test_fixed_stratified_split():
    products = flipkart_products(ROOT)
    train, val, test = split_products(products, seed=0)
    assert [len(p["category"]) for p in (train, val, test)] == [733, 104, 210]
    ids = [set(p["uniq_id"]) for p in (train, val, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    for part, size in ((train, 733), (test, 210)):
        shares = np.array([collections.Counter(part["category"])[c] for c in CATEGORIES]) / size
        assert np.abs(shares - 1 / 7).max() < 0.01  # every class keeps its ~1/7 share
    again = split_products(products, seed=0)
    assert all((a["uniq_id"] == b["uniq_id"]).all() for a, b in zip((train, val, test), again))
    other = split_products(products, seed=1)
    assert set(other[2]["uniq_id"]) != set(test["uniq_id"])
    with pytest.raises(ValueError, match=r"`fractions` must be 3 non-negative numbers summing to 1"):
        split_products(products, (0.5, 0.5, 0.5))


@needs_data
def test_manifest_feeds_make_dataset(hub_dir):
    """Real JPEG paths, text and table columns through the package's own pipeline."""
    _, _, test = split_products(flipkart_products(ROOT), seed=0)
    rows = {k: v[:8] for k, v in test.items()}
    rows["label"] = rows["category"]
    config = mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(
                name="image",
                handle=hub_dir["image"],
                image_size=[hm.IMAGE_SIZE] * 2,
                input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3],
            ),
            mmf.TabularModality(
                name="table", numeric_features=list(NUMERIC_COLUMNS), categorical_features={"brand": None}
            ),
        ],
        head=mmf.HeadConfig(task="multiclass", labels=list(CATEGORIES)),
    )
    model = mmf.build_model(config, adapt_data=rows)
    features, labels = next(iter(mmf.data.make_dataset(rows, config, mmf.data.DataConfig(batch_size=8))))
    assert features["image"].shape == (8, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3) and features["image"].dtype == "uint8"
    assert float(np.asarray(features["image"]).std()) > 5  # real photos, not blank
    assert [CATEGORIES[i] for i in labels.numpy()] == list(rows["category"])
    assert model.predict(features, verbose=0)["probabilities"].shape == (8, 7)
