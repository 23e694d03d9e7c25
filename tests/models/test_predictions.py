import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf.models.predictions import as_arrays
from tests.evaluation import _models


def test_dataset_strings_become_str_and_missing_presence_inputs_are_ones():
    config = _models.tabular_config(presence=True)
    data = _models.tabular_data(num_examples=6)
    features = {k: v for k, v in data.items() if k != "label"}
    dataset = tf.data.Dataset.from_tensor_slices((features, data["label"])).batch(4)
    x, y = as_arrays(dataset, config)
    assert sorted(x) == sorted(config.input_names())
    assert x["c"].dtype == object and x["c"].tolist() == ["a", "b"] * 3  # tf.data yields bytes
    assert x["left_present"].tolist() == [1.0] * 6
    np.testing.assert_array_equal(y, data["label"])
    x2, _ = as_arrays((features, data["label"]), config)
    np.testing.assert_array_equal(x2["x1"], x["x1"])


def test_bad_data_is_named():
    config = _models.tabular_config(presence=False)
    data = _models.tabular_data(num_examples=6)
    with pytest.raises(ValueError, match=r"one row per label \(5\). Received lengths: \{'x1': 6"):
        as_arrays({**data, "label": data["label"][:5]}, config)
    with pytest.raises(ValueError, match="`data` must be a tf.data.Dataset .* Received: data of type list"):
        as_arrays([1, 2, 3], config)
    with pytest.raises(ValueError, match=r"must yield \(features_dict, label\)"):
        as_arrays(tf.data.Dataset.from_tensor_slices(data["x1"]), config)
