"""Tiny models and data of the evaluation tests (no TF-Hub modules needed)."""

import numpy as np

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras


def tabular_config(presence=True, task="binary", weights=(0.9, 0.1)):
    """Two tabular modalities, `left` (x1) and `right` (x2, c), fixed weighted-sum fusion."""
    head = mmf.HeadConfig(task="regression", hidden_units=[8], dropout=0.0) if task == "regression" \
        else mmf.HeadConfig(task="binary", hidden_units=[8], dropout=0.0)
    return mmf.ModelConfig(
        modalities=[
            mmf.TabularModality(name="left", numeric_features=["x1"], numeric_stats={"x1": [0.0, 1.0]}),
            mmf.TabularModality(name="right", numeric_features=["x2"], categorical_features={"c": ["a", "b"]},
                                numeric_stats={"x2": [0.0, 1.0]}),
        ],
        fusion=mmf.FusionConfig(method="weighted_sum", projection_dim=8,
                                options={"weights": list(weights), "mode": "fixed"}),
        head=head,
        presence_inputs=presence,
    )


def tabular_data(num_examples=96, seed=0):
    """The label is `x1 > 0`: only the `left` modality carries it."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=num_examples).astype("float32")
    return {
        "x1": x1,
        "x2": rng.normal(size=num_examples).astype("float32"),
        "c": np.array(["a", "b"] * (num_examples // 2), dtype=object),
        "label": (x1 > 0).astype("float32"),
    }


def trained_tabular_model(config, epochs=12):
    """A model of `tabular_config` fitted on `tabular_data` (label x1 > 0)."""
    keras.utils.set_random_seed(0)
    model = mmf.build_model(config)
    data = tabular_data()
    x = {k: v for k, v in data.items() if k != "label"}
    if config.presence_inputs:
        x.update({f"{n}_present": np.ones(len(data["label"]), "float32") for n in config.modality_names})
    model.compile(keras.optimizers.Adam(0.05), mmf.default_loss(config.head), metrics=mmf.default_metrics(config.head))
    model.fit(x, data["label"], epochs=epochs, batch_size=32, verbose=0)
    return model


def score_model(config):
    """A model that returns the numeric columns it is fed, stacked, as its `probabilities`."""
    inputs = {name: keras.Input((), name=name) for name in config.input_names()}
    probabilities = keras.layers.Lambda(lambda columns: keras.ops.stack(columns, axis=-1))(list(inputs.values()))
    weights = keras.layers.Lambda(lambda p: keras.ops.ones_like(p[:, :1]))(probabilities)
    return keras.Model(inputs, {"probabilities": probabilities, "fusion_weights": weights})


def score_config(num_classes=3):
    """Config of `score_model`: one tabular modality with columns p0, p1, ..."""
    return mmf.ModelConfig(
        modalities=[mmf.TabularModality(name="scores", numeric_features=[f"p{i}" for i in range(num_classes)])],
        head=mmf.HeadConfig(task="multiclass", num_classes=num_classes),
    )


def geo_data(num_examples=64, seed=0):
    """Latitude ~ 42 and longitude ~ -71 (large raw values, small spread); the label (a price around
    150) depends on latitude and a little on `x2`."""
    rng = np.random.default_rng(seed)
    latitude = (42.0 + 0.05 * rng.normal(size=num_examples)).astype("float32")
    longitude = (-71.0 + 0.05 * rng.normal(size=num_examples)).astype("float32")
    x2 = rng.normal(size=num_examples).astype("float32")
    label = 150.0 + 400.0 * (latitude - 42.0) + 5.0 * x2
    return {"latitude": latitude, "longitude": longitude, "x2": x2, "label": label.astype("float32")}


def geo_regression_model(epochs=30):
    """(model, config, data): a regression model of `geo_data`, table statistics adapted on it."""
    config = mmf.ModelConfig(
        modalities=[
            mmf.TabularModality(name="geo", numeric_features=["latitude", "longitude"]),
            mmf.TabularModality(name="other", numeric_features=["x2"]),
        ],
        fusion=mmf.FusionConfig(method="weighted_sum", projection_dim=8, modality_dropout=0.0,
                                options={"weights": [0.5, 0.5], "mode": "fixed"}),
        head=mmf.HeadConfig(task="regression", hidden_units=[8], dropout=0.0, modality_heads=False,
                            target_stats=[150.0, 25.0]),
    )
    data = geo_data()
    x = {k: v for k, v in data.items() if k != "label"}
    keras.utils.set_random_seed(0)
    model = mmf.build_model(config, adapt_data=x)
    model.compile(keras.optimizers.Adam(0.02), mmf.default_loss(config.head))
    model.fit(x, data["label"], epochs=epochs, batch_size=16, verbose=0)
    return model, config, data
