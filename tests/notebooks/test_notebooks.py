"""The notebooks in `notebooks/`, executed headlessly on their quick settings (MMFUSION_NOTEBOOK_QUICK=1).

Executing them takes ~2.5 min, so those tests are marked `slow` (`./run test -m slow`, run by `.ci/run`);
the check that the stored notebooks are valid and output-free runs by default.

Each notebook runs in a fresh kernel of this interpreter, in a temporary working directory (so
nothing lands in the repository), with the demo backbones cached in a temporary folder shared by
both notebooks. Its last cell prints one line `MMFUSION_NOTEBOOK_SUMMARY {json}`, which the tests
read together with the executed cells' outputs.
"""

import json
import os
import re
import time

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from mmfusion_tf.datasets.demo import LABEL_NAMES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = os.path.join(REPO, "notebooks")
SUMMARY_PREFIX = "MMFUSION_NOTEBOOK_SUMMARY "
KERNEL_NAME = "mmfusion-notebook-test"
CELL_TIMEOUT = 600  # seconds per cell
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory, demo_cache_dir):
    """A kernel spec for this interpreter and the environment of the kernels (quick settings)."""
    root = tmp_path_factory.mktemp("notebook_env")
    # The kernel must be this interpreter: the stock `python3` spec may name another Python on PATH.
    write_kernel_spec(str(root / "kernels" / KERNEL_NAME))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(root), os.environ.get("JUPYTER_PATH")])))
        mp.setenv("MMFUSION_NOTEBOOK_QUICK", "1")
        mp.setenv("MMFUSION_CACHE_DIR", demo_cache_dir)  # demo backbones: pretrained once per test session
        mp.setenv("KERAS_BACKEND", "tensorflow")
        mp.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
        mp.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows the figures
        yield


def execute(name, workdir):
    """Runs `notebooks/<name>.ipynb` in `workdir`; returns the executed notebook and the seconds it took.

    A cell that raises fails the test with the notebook's name, the cell's number and source and
    the traceback; the partly executed notebook is kept in `workdir` for a look.
    """
    path = os.path.join(NOTEBOOKS, f"{name}.ipynb")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT, startup_timeout=120,
        resources={"metadata": {"path": str(workdir)}},
    )
    started = time.time()
    try:
        client.execute()
    except CellExecutionError as error:
        failed = os.path.join(str(workdir), f"{name}.failed.ipynb")
        nbformat.write(nb, failed)
        index = next((i for i, cell in enumerate(nb.cells)
                      if any(o.get("output_type") == "error" for o in cell.get("outputs", []))), None)
        pytest.fail(
            f"notebooks/{name}.ipynb: cell {index} raised {error.ename}: {error.evalue}\n"
            f"(executed notebook kept in {failed})\n\n{_ANSI.sub('', str(error))}",
            pytrace=False,
        )
    return nb, time.time() - started


def stream_text(nb):
    return "".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "stream" and output.get("name") == "stdout"
    )


def summary_of(nb, name):
    lines = [line for line in stream_text(nb).splitlines() if line.startswith(SUMMARY_PREFIX)]
    assert len(lines) == 1, f"notebooks/{name}.ipynb printed {len(lines)} summary lines, expected 1"
    return json.loads(lines[0][len(SUMMARY_PREFIX):])


def inline_pngs(nb):
    return [
        output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
        if output.output_type in ("display_data", "execute_result") and "image/png" in output.get("data", {})
    ]


def executed(name, tmp_path_factory):
    """`(notebook, summary, workdir)` of `notebooks/<name>.ipynb` run once in a new folder."""
    workdir = tmp_path_factory.mktemp(name)
    nb, seconds = execute(name, workdir)
    print(f"\nnotebooks/{name}.ipynb executed in {seconds:.0f} s")
    return nb, summary_of(nb, name), workdir


@pytest.fixture(scope="module")
def quickstart(notebook_env, tmp_path_factory):
    return executed("quickstart", tmp_path_factory)


@pytest.fixture(scope="module")
def tuning(notebook_env, tmp_path_factory):
    return executed("tuning", tmp_path_factory)


# === quickstart.ipynb ===


@pytest.mark.slow
def test_quickstart_trains_a_fused_model_on_quick_settings(quickstart):
    _, summary, _ = quickstart
    assert summary["quick"] is True and summary["num_examples"] == 800
    assert summary["fusion"] == "weighted_sum"
    assert 0.0 <= summary["fused_accuracy"] <= 1.0 and 0.0 <= summary["fused_macro_f1"] <= 1.0
    # Each modality alone caps at ~0.25 (chance 0.125): well above that, the model fuses.
    assert summary["fused_accuracy"] > 0.5, summary["fused_accuracy"]
    weights = summary["mean_fusion_weights"]
    assert set(weights) == {"image", "audio", "text"}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_quickstart_shows_the_evaluation_plots_inline(quickstart):
    nb, summary, workdir = quickstart
    assert set(summary["plots"]) == {"training_curves", "confusion_matrix", "modality_contributions", "robustness"}
    for path in summary["plots"].values():
        with open(os.path.join(str(workdir), path), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
    # The four evaluation PNGs, the data preview and the request image.
    assert len(inline_pngs(nb)) >= 6


@pytest.mark.slow
def test_quickstart_exports_a_versioned_saved_model(quickstart):
    _, summary, workdir = quickstart
    path = summary["export_path"]
    root = os.path.realpath(str(workdir))
    assert os.path.commonpath([os.path.realpath(path), root]) == root, "the export must stay in the working directory"
    assert summary["export_version"] == 1 and os.path.basename(path) == "1"
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isfile(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"))
    assert summary["parity_max_abs_diff"] <= 1e-4, summary["parity_max_abs_diff"]


@pytest.mark.slow
def test_quickstart_queries_the_served_model_over_grpc_and_rest(quickstart):
    _, summary, _ = quickstart
    assert summary["server"] == "mmfusion dev server"  # not on Colab
    assert len(summary["grpc_labels"]) == 8
    assert set(summary["grpc_labels"]) <= set(LABEL_NAMES)
    assert summary["rest_labels"] == summary["grpc_labels"]
    assert summary["served_vs_keras_max_abs_diff"] <= 1e-4
    matches = sum(a == b for a, b in zip(summary["grpc_labels"], summary["expected_labels"]))
    assert matches >= 4, (summary["grpc_labels"], summary["expected_labels"])  # the served model is the fused one


@pytest.mark.slow
def test_quickstart_writes_only_into_its_work_dir(quickstart):
    _, _, workdir = quickstart
    written = sorted(os.listdir(str(workdir)))
    assert written == ["mmfusion_quickstart"], written
    assert os.path.isfile(os.path.join(str(workdir), "mmfusion_quickstart", "summary.json"))


# === tuning.ipynb ===


@pytest.mark.slow
def test_tuning_runs_every_trial_over_the_fusion_weights(tuning):
    _, summary, _ = tuning
    assert summary["quick"] is True
    assert summary["num_trials"] == summary["completed"] == summary["max_trials"] == 3
    assert summary["hyperparameters"] == sorted(
        ["weight.image", "weight.audio", "weight.text", "learning_rate", "projection_dim"]
    )
    assert summary["objective"] == "val_f1_macro"
    assert 0.0 <= summary["best_score"] <= 1.0
    weights = summary["best_weights"]
    assert set(weights) == {"image", "audio", "text"}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_tuning_writes_the_results_and_shows_the_plots(tuning):
    nb, summary, workdir = tuning
    files = summary["files"]
    for name in ("trials_csv", "best_experiment", "objective_per_trial", "objective_vs_weights", "pareto_front"):
        assert os.path.isfile(os.path.join(str(workdir), files[name])), name
    with open(os.path.join(str(workdir), files["trials_csv"]), encoding="utf-8") as f:
        assert len(f.read().strip().splitlines()) == 1 + summary["max_trials"]
    assert len(inline_pngs(nb)) == 3  # objective per trial, objective vs weights, Pareto front


# === the files as stored ===


@pytest.mark.parametrize("name", ["quickstart", "tuning"])
def test_notebooks_are_stored_valid_and_without_outputs(name):
    nb = nbformat.read(os.path.join(NOTEBOOKS, f"{name}.ipynb"), as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert "MMFUSION_NOTEBOOK_QUICK" in "".join(cell.source for cell in code[:3])  # the parameters cell, near the top
    assert "google.colab" in code[0].source  # the first cell installs the package on Colab
    assert REPO not in json.dumps(nb)  # no path of this machine in the stored file
