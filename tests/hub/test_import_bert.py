import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones import HubEncoder, TextEncoder
from mmfusion_tf.hub import export_wordpiece_preprocessor, import_bert
from mmfusion_tf.hub.bert_encoder import BertConfig, BertEmbeddings, BertLayer, MaskedMeanPooling
from mmfusion_tf.hub.bert_checkpoint import build_encoder, load_bert_checkpoint
from tests.hub import tiny_bert

SENTENCES = ["the red car is fast", "big dogs", "a cat!", ""]


def _tokens(ids):
    """BERT inputs for rows of real token ids, right-padded to the longest row."""
    length = max(len(r) for r in ids)
    word_ids = np.array([r + [0] * (length - len(r)) for r in ids], "int32")
    mask = np.array([[1] * len(r) + [0] * (length - len(r)) for r in ids], "int32")
    return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": np.zeros_like(word_ids)}


# --- the encoder against a NumPy BERT ---


def test_one_layer_matches_numpy(tiny_checkpoint):
    checkpoint = load_bert_checkpoint(tiny_checkpoint)
    layer = build_encoder(checkpoint).get_layer("layer_1")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 16)).astype("float32")
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3], "int32")
    expected = tiny_bert.bert_layer(x.astype("float64"), mask, checkpoint.weights, 1)
    np.testing.assert_allclose(layer(x, mask).numpy(), expected, atol=1e-5)


def test_imported_encoder_matches_numpy(tiny_checkpoint, imported_bert):
    weights = load_bert_checkpoint(tiny_checkpoint).weights
    tokens = _tokens([[2, 5, 6, 8, 20, 21, 3], [2, 12, 9, 11, 3]])
    tokens["input_type_ids"][0, 4:] = 1  # a second segment
    outputs = HubEncoder(imported_bert["encoder"])(tokens)
    sequence, pooled = tiny_bert.bert(tokens["input_word_ids"], tokens["input_mask"], tokens["input_type_ids"], weights)
    real = tokens["input_mask"].astype(bool)
    np.testing.assert_allclose(outputs["sequence_output"].numpy()[real], sequence[real], atol=1e-5)
    np.testing.assert_allclose(outputs["pooled_output"].numpy(), pooled, atol=1e-5)
    mask = tokens["input_mask"][..., None]
    np.testing.assert_allclose(outputs["default"].numpy(), (sequence * mask).sum(1) / mask.sum(1), atol=1e-5)


def test_padding_does_not_change_real_tokens(imported_bert):
    encoder = HubEncoder(imported_bert["encoder"])
    alone = encoder(_tokens([[2, 5, 6, 8, 3]]))
    batched = encoder(_tokens([[2, 5, 6, 8, 3], [2, 12, 9, 11, 20, 21, 17, 3]]))  # padded by 3 in the batch
    padded = _tokens([[2, 5, 6, 8, 3] + [0] * 7])
    padded["input_mask"][0, 5:] = 0
    for other in (batched, encoder(padded)):
        np.testing.assert_allclose(
            other["sequence_output"].numpy()[0, :5], alone["sequence_output"].numpy()[0], atol=1e-5
        )
        for key in ("pooled_output", "default"):
            np.testing.assert_allclose(other[key].numpy()[0], alone[key].numpy()[0], atol=1e-5)


# --- the pair through TextEncoder ---


def test_text_encoder_loads_the_pair(imported_bert):
    text = tf.constant(SENTENCES)
    encoders = {
        (output_key, pooling): TextEncoder(imported_bert["encoder"], preprocessor=imported_bert["preprocessor"],
                                           output_key=output_key, pooling=pooling)
        for output_key, pooling in (("pooled_output", "output_key"), ("default", "output_key"), (None, "mean"))
    }
    features = {key: encoder(text).numpy() for key, encoder in encoders.items()}
    assert {f.shape for f in features.values()} == {(4, 16)}
    # `default` = TextEncoder's own masked mean of sequence_output.
    np.testing.assert_allclose(features[("default", "output_key")], features[(None, "mean")], atol=1e-5)
    tokens = encoders[(None, "mean")].tokenizer(text)
    assert {k: v.shape for k, v in tokens.items()} == {
        k: (4, 12) for k in ("input_word_ids", "input_mask", "input_type_ids")
    }
    # [CLS] the red car is fast [SEP], lower-cased WordPiece ids from vocab.txt.
    np.testing.assert_array_equal(tokens["input_word_ids"].numpy()[0, :7], [2, 5, 6, 8, 20, 21, 3])
    np.testing.assert_array_equal(tokens["input_mask"].numpy()[3], [1, 1] + [0] * 10)  # "" -> [CLS] [SEP]


def test_fine_tuning_changes_encoder_weights(imported_bert):
    keras.utils.set_random_seed(0)
    text_encoder = TextEncoder(imported_bert["encoder"], preprocessor=imported_bert["preprocessor"],
                               output_key="default", trainable=True)
    text = keras.Input((), dtype="string", name="text")
    model = keras.Model(text, keras.layers.Dense(1)(text_encoder(text)))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    backbone = text_encoder.backbone
    before = [w.numpy().copy() for w in backbone.trainable_weights]
    assert len(before) == 2 * 16 + 5 + 2  # 2 layers x 16 tensors, embeddings, pooler
    assert not text_encoder.tokenizer.weights
    x = np.array(SENTENCES * 2, dtype=object)
    model.fit(x, np.arange(8, dtype="float32"), batch_size=4, epochs=1, verbose=0)
    changed = {w.name: not np.allclose(b, w.numpy()) for b, w in zip(before, backbone.trainable_weights)}
    # Every weight on the path to `default` moves; the pooler (not on it) does not.
    assert not changed.pop("pooler_kernel") and not changed.pop("pooler_bias")
    assert all(changed.values()), [name for name, moved in changed.items() if not moved]
    # Dropout acts in training only.
    tokens = text_encoder.tokenizer(tf.constant(SENTENCES))
    inference = backbone(tokens, training=False).numpy()
    np.testing.assert_allclose(backbone(tokens, training=False).numpy(), inference)
    assert not np.allclose(backbone(tokens, training=True).numpy(), inference)


# --- import settings and checks ---


def test_import_info_and_tokenizer_settings(imported_bert):
    with open(os.path.join(imported_bert["root"], "import_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["seq_length"] == 12 and info["lower_case"] and info["strip_accents"]
    assert info["config"]["num_hidden_layers"] == 2
    assert "pooler" in info["outputs"]["pooled_output"]
    preprocessor = HubEncoder(imported_bert["preprocessor"])
    ids = preprocessor(tf.constant(["Café CAFE"]))["input_word_ids"].numpy()[0]
    np.testing.assert_array_equal(ids[:4], [2, 13, 13, 3])  # lower-cased and accents stripped -> "cafe"


@pytest.mark.parametrize(
    "lower_case, strip_accents, expected",
    [(True, None, [13]), (True, False, [14]), (False, False, [15]), (False, True, [1])],  # [1] = [UNK] ("Cafe")
)
def test_preprocessor_case_and_accents(tmp_path, lower_case, strip_accents, expected):
    path = export_wordpiece_preprocessor(tiny_bert.VOCAB, str(tmp_path / "p"), seq_length=6,
                                         lower_case=lower_case, strip_accents=strip_accents)
    ids = HubEncoder(path)(tf.constant(["Café"]))["input_word_ids"].numpy()[0]
    np.testing.assert_array_equal(ids[1:2], expected)


def test_checkpoint_variants_load(tmp_path):
    """Task-model prefix `bert.`, LayerNorm gamma/beta names, a task head, no pooler."""
    weights = tiny_bert.random_weights(pooler=False)
    renamed = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in weights.items()}
    renamed["classifier.weight"] = np.zeros((2, 16), "float32")
    folder = tiny_bert.write_checkpoint(str(tmp_path / "ckpt"), renamed, tokenizer_config={})
    checkpoint = load_bert_checkpoint(os.path.join(folder, "model.safetensors"))
    assert not checkpoint.has_pooler and checkpoint.lower_case
    outputs = build_encoder(checkpoint)(_tokens([[2, 5, 6, 3]]))
    np.testing.assert_allclose(outputs["pooled_output"].numpy(), outputs["default"].numpy())
    sequence, _ = tiny_bert.bert(
        *(_tokens([[2, 5, 6, 3]])[k] for k in ("input_word_ids", "input_mask", "input_type_ids")),
        {**weights, "pooler.dense.weight": np.eye(16), "pooler.dense.bias": np.zeros(16)},
    )
    np.testing.assert_allclose(outputs["sequence_output"].numpy(), sequence, atol=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w, c: w.pop("encoder.layer.1.output.dense.bias"), "encoder.layer.1.output.dense.bias"),
        (lambda w, c: w.update({"encoder.layer.2.output.dense.bias": np.zeros(16, "float32")}), "does not use"),
        (lambda w, c: c.update({"intermediate_size": 8}), "shape"),
        (lambda w, c: c.update({"model_type": "roberta"}), "model_type"),
        (lambda w, c: c.update({"hidden_act": "swish"}), "hidden_act"),
    ],
)
def test_bad_checkpoints_are_rejected(tmp_path, change, message):
    weights, config = tiny_bert.random_weights(), dict(tiny_bert.CONFIG)
    change(weights, config)
    folder = tiny_bert.write_checkpoint(str(tmp_path / "ckpt"), weights, config=config)
    with pytest.raises(ValueError, match=message):
        build_encoder(load_bert_checkpoint(folder))


def test_import_argument_errors(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="seq_length"):
        import_bert(tiny_checkpoint, str(tmp_path / "x"), seq_length=21)  # max_position_embeddings is 20
    with pytest.raises(ValueError, match="dropout"):
        import_bert(tiny_checkpoint, str(tmp_path / "x"), dropout=1.5)
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        import_bert(str(tmp_path), str(tmp_path / "x"))
    with pytest.raises(FileExistsError):
        import_bert(tiny_checkpoint, str(tmp_path))
    assert not os.path.exists(tmp_path / "x")


def test_layers_round_trip_their_config():
    config = BertConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, intermediate_size=16)
    assert config.layer_norm_eps == 1e-12
    for layer in (
        BertEmbeddings(10, 8, 16, 2, 1e-6, 0.1), BertLayer(8, 2, 16, "gelu_new", 1e-6, 0.1, 0.2), MaskedMeanPooling(),
    ):
        restored = type(layer).from_config(json.loads(json.dumps(layer.get_config())))
        assert restored.get_config() == layer.get_config()
