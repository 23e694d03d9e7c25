"""One Ludwig run for `bench/peer_ludwig.py`; runs in Ludwig's own virtual environment (no TensorFlow here).

    <ludwig venv>/bin/python bench/ludwig_run.py WORK_DIR CONFIG_JSON SEED

WORK_DIR holds train.csv, val.csv and test.csv (written by the parent); the run writes
WORK_DIR/ludwig_outcome.json: the test predictions and the seconds of `train` + `predict`
(preprocessing included, interpreter and PyTorch start-up excluded).
"""

import json
import os
import sys
import time


def main(work, config_path, seed):
    import pandas as pd
    from ludwig.api import LudwigModel

    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    frames = {split: pd.read_csv(os.path.join(work, f"{split}.csv")) for split in ("train", "val", "test")}
    started = time.perf_counter()
    model = LudwigModel(config, logging_level=30)
    model.train(
        training_set=frames["train"],
        validation_set=frames["val"],
        output_directory=os.path.join(work, "ludwig_results"),
        random_seed=seed,
        skip_save_processed_input=True,
        skip_save_progress=True,
        skip_save_log=True,
    )
    predictions, _ = model.predict(frames["test"], skip_save_predictions=True)
    seconds = time.perf_counter() - started
    target = config["output_features"][0]["name"]
    outcome = {
        "seconds": seconds,
        "predictions": [float(v) for v in predictions[f"{target}_predictions"]],
        "ludwig": __import__("ludwig").__version__,
        "torch": __import__("torch").__version__,
    }
    with open(os.path.join(work, "ludwig_outcome.json"), "w", encoding="utf-8") as f:
        json.dump(outcome, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
