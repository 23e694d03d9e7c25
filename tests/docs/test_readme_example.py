"""The README's "Python in 15 lines" runs as written: build, fit on the demo data, evaluate, export.

The block is taken from README.md and executed unchanged in a temporary folder (it writes
`models/demo/1/` there). Its sizes are the README's own (1,500 demo examples, 6 epochs): about a
minute on 2 CPU cores once the demo backbones are cached (the session's `demo_cache_dir`, shared
with the demo and notebook tests), ~40 s more the first time. The two tests that run it are marked
`slow` (`./run test -m slow`, run by `.ci/run`).
"""

import contextlib
import io
import re
import warnings

import pytest

from tests.docs._markdown import README, fenced_blocks, read

SECTION = "## Python in 15 lines"


def readme_example():
    text = read(README)
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = [body for language, body, _ in fenced_blocks(section) if language == "python"]
    assert blocks, f"no python block under {SECTION!r}"
    return blocks[0]


def test_readme_example_is_at_most_15_lines():
    lines = readme_example().rstrip("\n").splitlines()
    assert len(lines) <= 15, f"the README example has {len(lines)} lines"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory, demo_cache_dir):
    folder = tmp_path_factory.mktemp("readme_example")
    namespace = {"__name__": "__readme_example__"}
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout), warnings.catch_warnings():
        mp.chdir(folder)
        mp.setenv("MMFUSION_CACHE_DIR", demo_cache_dir)  # the session's backbones, not the user's ~/.cache
        # Keras warns when a dataset of unknown length ends its first epoch.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        exec(compile(readme_example(), "README.md (Python in 15 lines)", "exec"), namespace)
    return namespace, stdout.getvalue(), folder


@pytest.mark.slow
def test_readme_example_trains_a_fused_model_that_beats_any_single_modality(example_run):
    _, output, _ = example_run
    printed = re.findall(r"^(0\.\d+|1\.0|1)$", output, re.M)
    assert printed, f"the example printed no accuracy; its output ended with: {output[-500:]!r}"
    accuracy = float(printed[-1])
    # One modality alone carries one bit of the 3-bit label: at most ~0.27 (chance 0.125).
    assert accuracy > 0.5, accuracy


@pytest.mark.slow
def test_readme_example_exports_a_servable_version(example_run):
    namespace, _, folder = example_run
    version = folder / "models" / "demo" / "1"
    assert (version / "saved_model.pb").exists()
    assert (version / "assets.extra" / "tf_serving_warmup_requests").exists()
    model, config = namespace["model"], namespace["config"]
    assert config.modality_names == ["image", "audio", "text"]
    assert {"logits", "probabilities", "fusion_weights"} <= set(model.output_keys)
