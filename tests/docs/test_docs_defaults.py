"""The defaults configs.md states are the code's (the dataclass defaults of `mmfusion_tf.config`).

configs.md's complete experiment shows every key. A key's documented default is the value shown,
unless its comment starts with `default: VALUE` (then VALUE, a YAML value, optionally followed by a
parenthesised note, up to `;` or the end) or with `required` (no default: the code's is None or
empty). Example lines:

    name: products          # default: mmfusion_model; also the default run folder
    batch_size: 32
    train: data/train.csv   # required: a manifest or TFRecord glob
"""

import dataclasses
import os
import re

import yaml

from tests.docs._markdown import GUIDE_DIR, fenced_blocks, read

CONFIGS_MD = os.path.join(GUIDE_DIR, "configs.md")
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- )?(?P<key>\w+):(?P<rest>.*)$")
COMMENT = re.compile(r"(?:^|\s)#")  # a YAML comment starts at a `#` after whitespace
DEFAULT = re.compile(r"^default:\s*(?P<value>.+?)(?:\s+\([^)]*\))?\s*(?:;|$)")
# Keys an experiment YAML may not set (ExperimentConfig.from_dict refuses them).
NOT_YAML_KEYS = {"base_dir"}


def _experiment_block():
    """`(body, line of its first row)` of the complete experiment in configs.md."""
    text = read(CONFIGS_MD)
    for language, body, start in fenced_blocks(text):
        if language == "yaml" and body.startswith("model:"):
            return body, start + 1
    raise AssertionError("configs.md has no ```yaml block starting with `model:` (the complete experiment)")


def _comments(body, first_line):
    """`{key path: (comment, line number)}` of every `key: value  # comment` line of a YAML block.

    A path is a tuple of keys and list indexes, e.g. `("model", "modalities", 1, "name")`.

    Example:

    >>> _comments("a:\\n  b: 1  # default: 2\\n", 1)
    {('a',): ('', 1), ('a', 'b'): ('default: 2', 2)}
    """
    frames = [{"column": 0, "prefix": (), "last": None}]
    items = {}
    found = {}
    for number, line in enumerate(body.splitlines(), first_line):
        hash_ = COMMENT.search(line)
        code, comment = (line[:hash_.start()], line[hash_.end():]) if hash_ else (line, "")
        match = KEY_LINE.match(code)
        if not match:
            continue  # a comment line, or a flow-style list item such as `- {name: frozen, ...}`
        column = len(match["indent"]) + (2 if match["dash"] else 0)
        if match["dash"]:
            while frames[-1]["column"] >= column:
                frames.pop()
            parent = frames[-1]["last"]
            index = items[parent] = items.get(parent, -1) + 1
            frames.append({"column": column, "prefix": parent + (index,), "last": None})
        else:
            while frames[-1]["column"] > column:
                frames.pop()
            if frames[-1]["column"] < column:
                frames.append({"column": column, "prefix": frames[-1]["last"], "last": None})
        path = frames[-1]["prefix"] + (match["key"],)
        frames[-1]["last"] = path
        found[path] = (comment.strip(), number)
    return found


def _code_default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _plain(value):
    """Dataclasses as dicts and tuples as lists, so documented YAML and code values compare."""
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _documented_defaults():
    """`[(dotted key, documented default or "required", code default, line)]` of every documented key."""
    from mmfusion_tf.config import MODALITY_KINDS, ExperimentConfig

    body, first_line = _experiment_block()
    data = yaml.safe_load(body)
    comments = _comments(body, first_line)
    rows = []

    def walk(cls, mapping, path):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, shown in mapping.items():
            where = path + (key,)
            dotted = ".".join(str(p) for p in where)
            if key == "kind" and isinstance(path[-1], int):
                continue  # a modality's kind picks its dataclass; not a field
            assert key in fields and key not in NOT_YAML_KEYS, \
                f"configs.md documents {dotted}, which {cls.__name__} has no field for"
            comment, line = comments.get(where, ("", None))
            assert line is not None, f"found no line for {dotted} in configs.md (is the block's indentation regular?)"
            code = _code_default(fields[key])
            if key == "modalities":
                for i, item in enumerate(shown):
                    walk(MODALITY_KINDS[item["kind"]], item, where + (i,))
            elif dataclasses.is_dataclass(code):
                walk(type(code), shown, where)
            if comment.startswith("required"):
                rows.append((dotted, "required", code, line))
                continue
            if key == "modalities" or dataclasses.is_dataclass(code):
                continue  # compared key by key above
            default = DEFAULT.match(comment)
            documented = yaml.safe_load(default["value"]) if default else shown
            rows.append((dotted, documented, code, line))

    walk(ExperimentConfig, data, ())
    return rows


def test_configs_md_states_the_code_defaults():
    rows = _documented_defaults()
    wrong = []
    for key, documented, code, line in rows:
        if documented == "required":
            if code not in (None, [], {}, dataclasses.MISSING):
                wrong.append(f"line {line}: {key} is documented as required, but the code's default is {code!r}")
        elif _plain(documented) != _plain(code):
            wrong.append(f"line {line}: {key}: configs.md states the default {documented!r}, the code's is {code!r}")
    assert not wrong, "docs/guide/configs.md disagrees with mmfusion_tf/config.py:\n" + "\n".join(wrong)


def test_the_defaults_check_reads_most_keys():
    """Guards against a parser change that would silently compare nothing."""
    rows = _documented_defaults()
    keys = {key for key, *_ in rows}
    assert len(rows) >= 80, f"only {len(rows)} documented defaults read from configs.md: {sorted(keys)}"
    for key in ["training.early_stopping_patience", "training.checkpoints", "training.stages", "data.cache",
                "model.fusion.modality_dropout", "model.modalities.1.max_length", "data.train"]:
        assert key in keys, f"{key} was not read from configs.md"
    # Most differing examples carry a `default:` comment: the parser reads those comments.
    stated = [key for key, documented, _, _ in rows if documented != "required"]
    assert len(stated) >= 75, stated


def test_a_wrong_documented_default_is_reported_with_key_and_values(monkeypatch):
    """The comparison fails, naming the key and both values, when configs.md states another default."""
    import tests.docs.test_docs_defaults as module

    body, first_line = _experiment_block()
    wrong = body.replace("  early_stopping_patience: 3         # default: 0; 0 = off",
                         "  early_stopping_patience: 3         # 0 = off")
    assert wrong != body, "the early_stopping_patience line of configs.md changed; update this test"
    monkeypatch.setattr(module, "_experiment_block", lambda: (wrong, first_line))
    try:
        test_configs_md_states_the_code_defaults()
    except AssertionError as error:
        message = str(error)
    else:
        raise AssertionError("a wrong documented default went unnoticed")
    assert "training.early_stopping_patience: configs.md states the default 3, the code's is 0" in message
