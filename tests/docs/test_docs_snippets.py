"""The documentation only shows what exists: links, commands, configs and Python names are checked.

- every relative link in README.md and docs/**/*.md points at an existing file;
- every `mmfusion ...` command in a shell block parses with the real CLI parser (`mmfusion_tf.cli`),
  and every inline `mmfusion ...` mention names real verbs, tools and options;
- every YAML block of docs/guide loads and validates as the config it is (experiment, model
  config or fragment of one, search space), with real preset names;
- every Python block of README.md and docs/guide imports real modules and names, uses real
  attributes of them and passes keyword arguments their signatures accept; inline
  `mmfusion_tf.x.y` / `mmf.x` names in the prose exist.

The README's own experiment YAML is checked by tests/test_readme.py; its Python example is run by
test_readme_example.py.
"""

import ast
import contextlib
import importlib
import inspect
import io
import os
import re
import shlex

import pytest
import yaml

from tests.docs._markdown import (
    GUIDE_DIR, README, ROOT, SHELL_LANGUAGES, doc_files, fenced_blocks, guide_files, inline_code, links, read,
    relative,
)

DOCS = doc_files()
PYTHON_DOCS = [README] + guide_files()
SCHEMES = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _ids(paths):
    return [relative(p) for p in paths]


# === Links ====================================================================


@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_relative_links_point_at_existing_files(path):
    broken = []
    for target, line in links(read(path)):
        if SCHEMES.match(target) or target.startswith("#"):
            continue
        if target.startswith("/"):
            broken.append(f"line {line}: {target} (absolute; use a relative link)")
            continue
        file_part = target.split("#", 1)[0]
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
        if not os.path.exists(resolved):
            broken.append(f"line {line}: {target} -> {relative(resolved)} does not exist")
    assert not broken, f"{relative(path)}: broken links:\n" + "\n".join(broken)


def test_guide_index_links_every_guide_page():
    index = os.path.join(GUIDE_DIR, "README.md")
    linked = {os.path.normpath(os.path.join(GUIDE_DIR, t.split("#")[0])) for t, _ in links(read(index))}
    missing = [relative(p) for p in guide_files() if p != index and p not in linked]
    assert not missing, f"docs/guide/README.md does not link {missing}"


@pytest.mark.parametrize("path", PYTHON_DOCS, ids=_ids(PYTHON_DOCS))
def test_no_machine_specific_absolute_paths(path):
    text = read(path)
    assert "/" + "work/" not in text, f"{relative(path)} mentions an absolute path of this machine"


# === Commands =================================================================


@pytest.fixture(scope="module")
def parser():
    from mmfusion_tf import cli

    return cli.build_parser()


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return None


def _option_strings(parser):
    return {s for action in parser._actions for s in action.option_strings}


def _logical_lines(body):
    """Shell lines with `\\` continuations joined."""
    return body.replace("\\\n", " ").splitlines()


def _commands(line):
    """The simple commands of a shell line, without `VAR=value` prefixes (comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token and set(token) <= set("();<>|&"):
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    cleaned = []
    for command in commands:
        while command and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", command[0]):
            command = command[1:]
        if command:
            cleaned.append(command)
    return cleaned


def _cli_arguments(command):
    """The `mmfusion` argument list a shell command amounts to, or None if it runs something else."""
    if command[0] == "mmfusion":
        return command[1:]
    if command[:2] == ["./run", "demo"]:
        return ["demo", *command[2:]]
    if command[0] == "tuning/run_distributed.sh":  # CONFIG OUTPUT [WORKERS] [-- mmfusion tune flags]
        extra = command[command.index("--") + 1:] if "--" in command else []
        return ["tune", command[1], "--output-dir", command[2], *extra]
    return None


def _shell_commands():
    found = []
    for path in DOCS:
        for language, body, start in fenced_blocks(read(path)):
            if language not in SHELL_LANGUAGES:
                continue
            for line in _logical_lines(body):
                for command in _commands(line):
                    arguments = _cli_arguments(command)
                    if arguments is not None:
                        found.append(pytest.param(arguments, id=f"{relative(path)}:{start}:{' '.join(command)[:60]}"))
    return found


SHELL_COMMANDS = _shell_commands()


def test_the_docs_show_commands():
    verbs = {p.values[0][0] for p in SHELL_COMMANDS if p.values[0]}
    assert {"train", "evaluate", "tune", "export", "serve", "predict", "hub", "data", "demo"} <= verbs, verbs


@pytest.mark.parametrize("arguments", SHELL_COMMANDS)
def test_shell_command_parses_with_the_real_cli(parser, arguments):
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(arguments)
    except SystemExit as exit_:
        if exit_.code == 0 and ("--help" in arguments or "-h" in arguments):
            return
        pytest.fail(f"`mmfusion {' '.join(arguments)}` does not parse: {stderr.getvalue().strip()}")


def _inline_mentions():
    found = []
    for path in DOCS:
        for content, line in inline_code(read(path)):
            if content.startswith("mmfusion ") or content == "mmfusion":
                found.append(pytest.param(content, id=f"{relative(path)}:{line}:{content[:50]}"))
    return found


INLINE_MENTIONS = _inline_mentions()


@pytest.mark.parametrize("mention", INLINE_MENTIONS)
def test_inline_mmfusion_mentions_name_real_verbs_and_options(parser, mention):
    current, path = parser, ["mmfusion"]
    try:
        tokens = shlex.split(mention)[1:]
    except ValueError:
        tokens = mention.split()[1:]
    for token in tokens:
        if token.startswith("-"):
            option = token.split("=", 1)[0]
            assert option in _option_strings(current), (
                f"`{mention}`: {' '.join(path)} has no option {option} (has {sorted(_option_strings(current))})"
            )
            continue
        choices = _subparsers(current)
        if choices is None:
            continue  # a positional argument
        if token in choices:
            current = choices[token]
            path.append(token)
            continue
        if re.fullmatch(r"[a-z][a-z-]*", token):
            pytest.fail(f"`{mention}`: {token!r} is not a tool of `{' '.join(path)}` (choices: {sorted(choices)})")
        break  # a placeholder such as VERB or <verb>


# === YAML configs =============================================================


def _minimal_model():
    return {
        "modalities": [
            {"kind": "image", "name": "image", "handle": "models/image"},
            {"kind": "text", "name": "text", "handle": "models/text"},
            {"kind": "audio", "name": "audio", "handle": "models/audio"},
        ],
        "head": {"task": "multiclass", "num_classes": 3},
    }


def _check_presets(model):
    from mmfusion_tf.config import TabularModality, modality_kind

    for modality in model.modalities:
        if not isinstance(modality, TabularModality):
            modality.resolved(modality_kind(modality))  # an unknown preset name raises here


def _check_yaml(body):
    """Validates one YAML block; returns what it was recognised as."""
    import dataclasses

    from mmfusion_tf.config import ExperimentConfig, ModelConfig
    from mmfusion_tf.tuning.space import SearchSpace

    data = yaml.safe_load(body)
    assert isinstance(data, dict), f"not a mapping: {data!r}"
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    space_keys = {f.name for f in dataclasses.fields(SearchSpace)}
    if "model" in data:
        experiment = ExperimentConfig.from_yaml(body).validate()
        _check_presets(experiment.model)
        return "experiment"
    if set(data) <= {"data", "training"}:
        ExperimentConfig.from_dict({"model": _minimal_model(), **data}).validate()
        return "experiment fragment"
    if set(data) <= model_keys:
        if "modalities" in data and "head" in data:
            model = ModelConfig.from_yaml(body).validate()
            kind = "model config"
        else:
            model = ModelConfig.from_dict({**_minimal_model(), **data}).validate()
            kind = "model config fragment"
        _check_presets(model)
        return kind
    if set(data) <= space_keys:
        SearchSpace.from_dict(data)
        return "search space"
    raise AssertionError(f"a YAML block that is no config the docs test knows (keys {sorted(data)})")


def _guide_yaml_blocks():
    found = []
    for path in guide_files():
        for language, body, start in fenced_blocks(read(path)):
            if language in ("yaml", "yml"):
                found.append(pytest.param(body, id=f"{relative(path)}:{start}"))
    return found


GUIDE_YAML = _guide_yaml_blocks()


def test_the_guide_has_a_complete_experiment_example():
    kinds = [_check_yaml(p.values[0]) for p in GUIDE_YAML]
    assert "experiment" in kinds and "model config" in kinds and "search space" in kinds, kinds


@pytest.mark.parametrize("body", GUIDE_YAML)
def test_guide_yaml_loads_with_the_real_configs(body):
    _check_yaml(body)


def test_complete_example_sets_every_config_key():
    """configs.md's complete experiment names every key of every config dataclass."""
    import dataclasses

    from mmfusion_tf.config import (
        MODALITY_KINDS, ContrastiveConfig, DataConfig, ExperimentConfig, FusionConfig, HeadConfig, ModelConfig,
        StageConfig, TrainingConfig,
    )

    text = read(os.path.join(GUIDE_DIR, "configs.md"))
    body = next(b for lang, b, _ in fenced_blocks(text) if lang == "yaml" and b.startswith("model:"))
    data = yaml.safe_load(body)
    ExperimentConfig.from_yaml(body).validate()

    def missing(cls, mapping):
        return sorted({f.name for f in dataclasses.fields(cls)} - set(mapping))

    gaps = {
        "model": missing(ModelConfig, data["model"]),
        "fusion": missing(FusionConfig, data["model"]["fusion"]),
        "head": missing(HeadConfig, data["model"]["head"]),
        "data": missing(DataConfig, data["data"]),
        "training": missing(TrainingConfig, data["training"]),
        "contrastive": missing(ContrastiveConfig, data["training"]["contrastive"]),
        "stages": missing(StageConfig, data["training"]["stages"][0]),
    }
    by_kind = {m["kind"]: m for m in data["model"]["modalities"]}
    for kind, cls in MODALITY_KINDS.items():
        gaps[kind] = missing(cls, by_kind.get(kind, {})) if kind in by_kind else ["(no such modality)"]
    gaps = {k: v for k, v in gaps.items() if v}
    assert not gaps, f"configs.md's complete example leaves out {gaps}"


# === Python ===================================================================

_MISSING = object()


def _import_names(tree, env):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = importlib.import_module(alias.name)
                if alias.asname:
                    env[alias.asname] = module
                else:
                    env[alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    value = getattr(module, alias.name)
                else:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                env[alias.asname or alias.name] = value


def _resolve(node, env, where):
    """The object a Name/Attribute chain rooted in an imported name denotes (`_MISSING` otherwise)."""
    if isinstance(node, ast.Name):
        return env.get(node.id, _MISSING)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, env, where)
        if base is _MISSING:
            return _MISSING
        assert hasattr(base, node.attr), f"{where}: `{ast.unparse(node)}` does not exist"
        return getattr(base, node.attr)
    return _MISSING


def _check_call(node, env, where):
    target = _resolve(node.func, env, where)
    if target is _MISSING or not callable(target):
        return
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    if any(isinstance(a, ast.Starred) for a in node.args):
        return
    keywords = {k.arg: None for k in node.keywords if k.arg is not None}
    try:
        signature.bind_partial(*([None] * len(node.args)), **keywords)
    except TypeError as error:
        pytest.fail(f"{where}: `{ast.unparse(node)[:120]}` does not fit {ast.unparse(node.func)}{signature}: {error}")


def _python_blocks():
    found = []
    for path in PYTHON_DOCS:
        blocks = [(body, start) for language, body, start in fenced_blocks(read(path)) if language == "python"]
        if blocks:
            found.append(pytest.param(path, blocks, id=relative(path)))
    return found


@pytest.mark.parametrize("path, blocks", _python_blocks())
def test_python_blocks_use_real_names_and_arguments(path, blocks):
    env = {}  # imports carry over between the blocks of one page, as a reader's session would
    for body, start in blocks:
        where = f"{relative(path)}:{start}"
        tree = ast.parse(body, filename=where)
        _import_names(tree, env)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                _resolve(node, env, where)
            elif isinstance(node, ast.Call):
                _check_call(node, env, where)


def _resolve_dotted(name):
    """The object of a dotted name under mmfusion_tf, importing modules as needed."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


INLINE_NAME = re.compile(r"^(mmfusion_tf|mmf)((?:\.[A-Za-z_]\w*)+)")


@pytest.mark.parametrize("path", PYTHON_DOCS, ids=_ids(PYTHON_DOCS))
def test_inline_python_names_exist(path):
    missing = []
    for content, line in inline_code(read(path)):
        match = INLINE_NAME.match(content)
        if not match:
            continue
        name = "mmfusion_tf" + match.group(2)
        try:
            _resolve_dotted(name)
        except (ImportError, AttributeError):
            missing.append(f"line {line}: `{content}` ({name} does not exist)")
    assert not missing, f"{relative(path)}:\n" + "\n".join(missing)


def test_readme_lists_every_cli_verb(parser):
    text = read(README)
    verbs = set(_subparsers(parser))
    table = set(re.findall(r"^\| `([a-z-]+)(?: [a-z-]+)?`(?: / `([a-z-]+)`)? \|", text, re.M))
    listed = {v for pair in table for v in pair if v}
    assert verbs <= listed, f"README's command table misses {sorted(verbs - listed)}"
    assert "| `data to-tfrecord` |" in text


def test_readme_links_the_documentation():
    targets = {t for t, _ in links(read(README))}
    for target in ("docs/guide/README.md", "docs/benchmarks.md", "docs/results.md",
                   "notebooks/quickstart.ipynb", "notebooks/tuning.ipynb"):
        assert target in targets, f"README.md does not link {target}"


def test_readme_keeps_the_two_setup_commands():
    text = read(README)
    assert "./run demo      # the main job" in text
    assert "./run test      # the offline test suite (what CI runs)" in text
    assert os.path.exists(os.path.join(ROOT, "run"))
