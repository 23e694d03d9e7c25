"""Writers of tiny TF-Hub-format modules for the offline tests.

Each module is written the way TF-Hub publishes its family (reusable
SavedModel with `__call__`, `variables`, `trainable_variables`,
`regularization_losses`) and is loaded by the tests through the real
`HubEncoder` path.
"""

import os

import numpy as np
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.local_backbones import (
    small_audio_backbone,
    small_bert_encoder,
    small_image_backbone,
)
from mmfusion_tf.hub import export_keras_as_hub_module, export_wordpiece_preprocessor

IMAGE_SIZE = 16
IMAGE_DIM = 12
TEXT_DIM = 16
SEQ_LENGTH = 12
AUDIO_DIM = 10
SAMPLE_RATE = 8000
EMBEDDING_DIM = 6
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "red", "blue", "car", "dog", "cat", "##s", "big"]


def write_image_module(path):
    keras.utils.set_random_seed(1)
    model = small_image_backbone(IMAGE_SIZE, IMAGE_DIM, width=4)
    return export_keras_as_hub_module(model, path, overwrite=True)


def write_bert_modules(root):
    keras.utils.set_random_seed(2)
    preprocessor = export_wordpiece_preprocessor(
        VOCAB, os.path.join(root, "preprocessor"), seq_length=SEQ_LENGTH, overwrite=True
    )
    encoder = small_bert_encoder(len(VOCAB), SEQ_LENGTH, hidden_dim=TEXT_DIM, num_layers=1, num_heads=2)
    encoder_path = export_keras_as_hub_module(encoder, os.path.join(root, "encoder"), overwrite=True)
    return preprocessor, encoder_path


def write_audio_module(path):
    keras.utils.set_random_seed(3)
    model = small_audio_backbone(SAMPLE_RATE, AUDIO_DIM, num_mel_bins=8)
    return export_keras_as_hub_module(model, path, overwrite=True)


class _StringEmbedding(tf.train.Checkpoint):
    """NNLM/USE-style module: `[batch]` strings -> `[batch, dim]` (hashed word embeddings)."""

    def __init__(self, buckets=64, dim=EMBEDDING_DIM):
        super().__init__()
        rng = np.random.default_rng(4)
        self.embeddings = tf.Variable(rng.normal(size=(buckets, dim)).astype("float32"), name="embeddings")
        self.buckets = buckets
        self.variables = [self.embeddings]
        self.trainable_variables = [self.embeddings]
        self.regularization_losses = []
        self.__call__ = tf.function(self._embed, input_signature=[tf.TensorSpec([None], tf.string)])

    def _embed(self, text):
        words = tf.strings.split(tf.strings.lower(text))
        ids = tf.strings.to_hash_bucket_fast(words, self.buckets)
        return tf.reduce_mean(tf.gather(self.embeddings, ids).to_tensor(), axis=1)


def write_string_embedding_module(path):
    tf.saved_model.save(_StringEmbedding(), path)
    return path


class _PerWaveformAudio(tf.train.Checkpoint):
    """YAMNet-style module: one `[samples]` waveform -> (scores, embeddings `[frames, dim]`)."""

    def __init__(self, dim=AUDIO_DIM):
        super().__init__()
        rng = np.random.default_rng(5)
        self.kernel = tf.Variable(rng.normal(size=(80, dim)).astype("float32") * 0.1, name="kernel")
        self.variables = [self.kernel]
        self.trainable_variables = [self.kernel]
        self.__call__ = tf.function(self._run, input_signature=[tf.TensorSpec([None], tf.float32)])

    def _run(self, waveform):
        frames = tf.signal.frame(waveform, 80, 40)
        embeddings = tf.nn.relu(frames @ self.kernel)
        scores = tf.nn.softmax(embeddings, axis=-1)
        return scores, embeddings


def write_per_waveform_audio_module(path):
    tf.saved_model.save(_PerWaveformAudio(), path)
    return path


def write_signature_only_module(path):
    """A TF1-style SavedModel: a named signature and no `__call__`."""
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.double = tf.function(lambda x: {"y": x * module.scale},
                                input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    tf.saved_model.save(module, path, signatures={"serving_default": module.double})
    return path
