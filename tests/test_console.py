"""A quiet, fast command line: `mmfusion --help` without TensorFlow, no C++ log lines on a run."""

import os
import subprocess
import sys
import time

import pytest

from mmfusion_tf._console import is_tensorflow_log_line

PYTHON = sys.executable
MMFUSION = os.path.join(os.path.dirname(PYTHON), "mmfusion")

TF_LINES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796387104.250433    4553 port.cc:153] oneDNN custom operations are on.",
    b"I0000 00:00:1796387104.250742    4553 cudart_stub.cc:31] Could not find cuda drivers on your machine",
    b"E0000 00:00:1733220000.123456   12345 cuda_executor.cc:1228] failed call to cuInit: INTERNAL: CUDA error",
    b"W0000 00:00:1733220000.123456   12345 mkl_util.h:123] oneDNN supports DT_INT64 only on platforms with AVX-512",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    b"appropriate compiler flags.",
]
KEPT_LINES = [
    b"Traceback (most recent call last):",
    b"mmfusion train: error: data.train: file not found: train.csv",
    b"/x/y.py:3: UserWarning: Your input ran out of data",
    b"F0000 00:00:1733220000.123456   12345 logging.cc:1] Check failed: fatal lines are always shown",
    b"I love this product",
]


@pytest.mark.parametrize("line", TF_LINES)
def test_tensorflow_log_lines_are_recognised(line):
    assert is_tensorflow_log_line(line)


@pytest.mark.parametrize("line", KEPT_LINES)
def test_other_lines_are_kept(line):
    assert not is_tensorflow_log_line(line)


# `import mmfusion_tf` loads TensorFlow at once (outside the CLI), so the module is loaded by path here.
SCRIPT = """
import importlib.util, sys, warnings
spec = importlib.util.spec_from_file_location("console", sys.argv[1])
console = importlib.util.module_from_spec(spec)
spec.loader.exec_module(console)
quiet = console.TensorFlowLogFilter().start()
import tensorflow as tf
tf.constant([1.0]) + 1.0
warnings.warn("a warning the user must see")
print("partial progress\\r", end="", file=sys.stderr, flush=True)
print("done", file=sys.stderr)
quiet.stop()
print("dropped", quiet.dropped)
"""


def test_filter_drops_tensorflow_start_up_lines_and_keeps_python_messages():
    module = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mmfusion_tf", "_console.py")
    result = subprocess.run([PYTHON, "-c", SCRIPT, module], capture_output=True, timeout=120)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "a warning the user must see" in err and "partial progress\rdone" in err
    assert not [line for line in err.splitlines() if line.startswith(("I0000", "W0000", "E0000", "WARNING: All log"))]
    assert int(result.stdout.decode().split("dropped")[1]) >= 1  # this TensorFlow does print start-up lines


def test_help_of_every_verb_is_fast_and_imports_no_tensorflow():
    assert os.path.exists(MMFUSION), f"{MMFUSION} is missing: install the package (`./run test` does: pip install -e .)"
    for verb in ([], ["train"], ["evaluate"], ["demo"], ["export"], ["serve"], ["tune"], ["hub"], ["data"]):
        start = time.perf_counter()
        result = subprocess.run([MMFUSION, *verb, "--help"], capture_output=True, timeout=60)
        elapsed = time.perf_counter() - start
        assert result.returncode == 0 and b"usage: mmfusion" in result.stdout, result.stderr
        assert not result.stderr
        assert elapsed < 1.0, f"mmfusion {' '.join(verb)} --help took {elapsed:.2f} s"
    probe = "import sys; sys.argv = ['mmfusion']; import mmfusion_tf.cli; print('tensorflow' in sys.modules)"
    assert subprocess.run([PYTHON, "-c", probe], capture_output=True, timeout=60).stdout.strip() == b"False"


REGISTERED = """
import importlib, pkgutil, sys, keras
import mmfusion_tf
if sys.argv[1] == "every-module":
    for module in pkgutil.walk_packages(mmfusion_tf.__path__, "mmfusion_tf."):
        if module.name.split(".")[-1] not in ("__main__",):
            importlib.import_module(module.name)
elif sys.argv[1] == "cli":
    mmfusion_tf.import_all()
print(sorted(n for n in keras.saving.get_custom_objects() if n.startswith("mmfusion_tf>")))
"""


def test_import_mmfusion_tf_registers_every_keras_class_of_the_package():
    def registered(mode, argv0):
        script = f"import sys; sys.argv[0] = {argv0!r}\n" + REGISTERED
        result = subprocess.run([PYTHON, "-c", script, mode], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip().splitlines()[-1]

    every = registered("every-module", "python")
    assert "mmfusion_tf>ModalityDropout" in every and "mmfusion_tf>GatedFusion" in every
    assert registered("import", "python") == every  # `import mmfusion_tf` registers what load_model needs
    assert registered("cli", "mmfusion") == every  # the CLI's deferred import_all too
