"""`max_length`: a BERT module imported with a long sequence serves shorter ones without re-importing."""

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf.backbones import HubEncoder, TextEncoder
from mmfusion_tf.backbones.text import shorten_bert_inputs
from mmfusion_tf.config import ModelConfig, load_model_config
from mmfusion_tf._keras import keras
from mmfusion_tf.hub import export_keras_as_hub_module, export_wordpiece_preprocessor
from mmfusion_tf.hub.bert_encoder import BertConfig, bert_encoder
from tests.hub_modules import SEQ_LENGTH, VOCAB

@pytest.fixture(scope="module")
def bert(hub_dir, tmp_path_factory):
    """A BERT encoder like `mmfusion hub import-bert` writes (any sequence length) and a 12-token preprocessor."""
    keras.utils.set_random_seed(5)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=SEQ_LENGTH, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    root = tmp_path_factory.mktemp("bert_any_length")
    return {"encoder": export_keras_as_hub_module(bert_encoder(config), str(root / "encoder")),
            "preprocessor": hub_dir["bert_preprocessor"]}


TEXTS = tf.constant(["the red car", "the big red dogs and the blue cats the car", "", "the red car the big"])


def test_shortened_inputs_equal_a_preprocessor_exported_at_that_length(hub_dir, tmp_path):
    short = export_wordpiece_preprocessor(VOCAB, str(tmp_path / "short"), seq_length=6)
    expected = HubEncoder(short)(TEXTS)
    shortened = shorten_bert_inputs(HubEncoder(hub_dir["bert_preprocessor"])(TEXTS), 6)
    for key in ("input_word_ids", "input_mask", "input_type_ids"):
        np.testing.assert_array_equal(shortened[key].numpy(), expected[key].numpy(), err_msg=key)
    assert shortened["input_word_ids"].numpy()[1, -1] == VOCAB.index("[SEP]")  # a cut text still ends with [SEP]


def test_encoder_with_max_length_sees_only_that_many_tokens(bert):
    full = TextEncoder(bert["encoder"], preprocessor=bert["preprocessor"], pooling="mean")
    short = TextEncoder(bert["encoder"], preprocessor=bert["preprocessor"], pooling="mean", max_length=6)
    texts = tf.constant(["the red car", "the big red dogs and the blue cats the car"])
    full_out, short_out = full(texts).numpy(), short(texts).numpy()
    np.testing.assert_allclose(short_out[0], full_out[0], atol=1e-5)  # 5 tokens: nothing cut
    assert not np.allclose(short_out[1], full_out[1], atol=1e-4)  # 13 tokens: cut to 6
    assert TextEncoder.from_config(short.get_config()).max_length == 6


def test_max_length_longer_than_the_preprocessor_names_the_fix(bert):
    encoder = TextEncoder(bert["encoder"], preprocessor=bert["preprocessor"], max_length=SEQ_LENGTH + 4)
    with pytest.raises(ValueError, match=f"--seq-length {SEQ_LENGTH + 4}"):
        encoder(TEXTS)


def test_max_length_in_yaml_builds_the_model(bert, tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(f"""
name: short_text
modalities:
  - {{kind: text, name: review, handle: {bert['encoder']}, preprocessor: {bert['preprocessor']},
     pooling: mean, max_length: 8}}
fusion: {{method: concat}}
head: {{task: binary}}
""")
    config = load_model_config(str(path))
    assert config.modalities[0].max_length == 8
    assert ModelConfig.from_dict(config.to_dict()).modalities[0].max_length == 8
    model = mmf.build_model(config)
    encoders = [layer for layer in model.layers if isinstance(layer, TextEncoder)]
    assert [encoder.max_length for encoder in encoders] == [8]
    assert model({"review": tf.constant(["the red car", ""])})["probabilities"].shape[0] == 2


@pytest.mark.parametrize("value, message", [(2, "int >= 3"), ("32", "int >= 3"), (True, "int >= 3")])
def test_bad_max_length_is_named(hub_dir, value, message):
    modality = mmf.TextModality(name="review", handle=hub_dir["bert_encoder"],
                                preprocessor=hub_dir["bert_preprocessor"], max_length=value)
    with pytest.raises(ValueError, match=f"max_length must be an {message}"):
        modality.validate("modalities[0]")


def test_max_length_without_a_preprocessor_is_an_error(hub_dir):
    modality = mmf.TextModality(name="review", handle=hub_dir["string_embedding"], max_length=16)
    with pytest.raises(ValueError, match="needs a BERT-style `preprocessor`"):
        modality.validate("modalities[0]")

