"""A tiny random BERT checkpoint in Hugging Face's layout, and a NumPy BERT to check against.

`write_checkpoint` writes `model.safetensors` (HF `BertModel` key names, with
the `position_ids` buffer), `config.json`, `vocab.txt` and
`tokenizer_config.json`, as a sentence-transformers model folder holds them.
"""

import json
import math
import os

import numpy as np
from safetensors.numpy import save_file

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "red", "blue", "car", "dog", "cat", "##s",
    "big", "cafe", "café", "Café", "a", ".", ",", "!", "is", "fast", "slow", "small",
]
CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": len(VOCAB),
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 32,
    "hidden_act": "gelu",
    "max_position_embeddings": 20,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "position_embedding_type": "absolute",
    "pad_token_id": 0,
}


def random_weights(config=CONFIG, seed=0, pooler=True):
    """HF `BertModel` state dict (float32 NumPy) with random values."""
    rng = np.random.default_rng(seed)
    h, i = config["hidden_size"], config["intermediate_size"]

    def normal(*shape):
        return rng.normal(0.0, 0.3, shape).astype("float32")

    weights = {
        "embeddings.word_embeddings.weight": normal(config["vocab_size"], h),
        "embeddings.position_embeddings.weight": normal(config["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": normal(config["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": 1.0 + normal(h),
        "embeddings.LayerNorm.bias": normal(h),
        "embeddings.position_ids": np.arange(config["max_position_embeddings"], dtype="int64")[None],
    }
    for n in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{n}."
        for name, (out_dim, in_dim) in {
            "attention.self.query": (h, h), "attention.self.key": (h, h), "attention.self.value": (h, h),
            "attention.output.dense": (h, h), "intermediate.dense": (i, h), "output.dense": (h, i),
        }.items():
            weights[p + name + ".weight"] = normal(out_dim, in_dim)  # PyTorch Linear: [out, in]
            weights[p + name + ".bias"] = normal(out_dim)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[p + name + ".weight"] = 1.0 + normal(h)
            weights[p + name + ".bias"] = normal(h)
    if pooler:
        weights["pooler.dense.weight"] = normal(h, h)
        weights["pooler.dense.bias"] = normal(h)
    return weights


def write_checkpoint(folder, weights=None, config=CONFIG, tokenizer_config=None, vocab=VOCAB):
    """Writes the checkpoint folder; returns it."""
    os.makedirs(folder, exist_ok=True)
    save_file(weights if weights is not None else random_weights(config), os.path.join(folder, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    tokenizer_config = {"do_lower_case": True, "strip_accents": None} if tokenizer_config is None else tokenizer_config
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config, f)
    return folder


# --- NumPy reference (float64), written from the BERT paper / HF modeling_bert ---


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def linear(x, weights, name):
    return x @ weights[name + ".weight"].astype("float64").T + weights[name + ".bias"]


def bert_layer(x, mask, weights, index, config=CONFIG):
    """One transformer layer: `x` `[batch, seq, hidden]`, `mask` `[batch, seq]` of 0/1."""
    p = f"encoder.layer.{index}."
    heads, eps = config["num_attention_heads"], config["layer_norm_eps"]
    batch, length, hidden = x.shape
    size = hidden // heads

    def split(t):
        return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

    q, k, v = (split(linear(x, weights, p + "attention.self." + n)) for n in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + np.where(mask[:, None, None, :] > 0, 0.0, -1e30)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
    x = layer_norm(x + linear(context, weights, p + "attention.output.dense"),
                   weights[p + "attention.output.LayerNorm.weight"], weights[p + "attention.output.LayerNorm.bias"],
                   eps)
    hidden_states = linear(gelu(linear(x, weights, p + "intermediate.dense")), weights, p + "output.dense")
    return layer_norm(x + hidden_states, weights[p + "output.LayerNorm.weight"], weights[p + "output.LayerNorm.bias"],
                      eps)


def bert(word_ids, mask, type_ids, weights, config=CONFIG):
    """(sequence_output, pooled_output) of the whole model."""
    length = word_ids.shape[1]
    x = (weights["embeddings.word_embeddings.weight"][word_ids]
         + weights["embeddings.token_type_embeddings.weight"][type_ids]
         + weights["embeddings.position_embeddings.weight"][:length][None]).astype("float64")
    x = layer_norm(x, weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"],
                   config["layer_norm_eps"])
    for index in range(config["num_hidden_layers"]):
        x = bert_layer(x, mask, weights, index, config)
    return x, np.tanh(linear(x[:, 0], weights, "pooler.dense"))
