"""The `mmfusion` command line.

Example:

    mmfusion demo --report report.json
    mmfusion --help
"""

import argparse
import os
import sys
import warnings


def _demo(args):
    from mmfusion_tf.demo import run_demo

    report = run_demo(
        output_dir=args.output_dir, report_path=args.report, fusion=args.fusion, num_examples=args.examples,
        frozen_epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs, seed=args.seed, quick=args.quick,
        cache_dir=args.cache_dir, verbose=args.verbose,
    )
    best_single = max(r["accuracy"] for r in report["unimodal"].values())
    return 0 if report["fused"]["accuracy"] > best_single else 1


def _to_tfrecord(args):
    from mmfusion_tf.config import load_model_config
    from mmfusion_tf.data import write_tfrecords

    config = load_model_config(args.config)
    paths = write_tfrecords(
        args.source, config, args.output, num_shards=args.shards, label=None if args.no_label else args.label,
        on_error=args.on_error, max_audio_seconds=args.max_audio_seconds,
    )
    print(f"wrote {len(paths)} shard(s): {paths[0]}" + (f" ... {paths[-1]}" if len(paths) > 1 else ""))
    return 0


def _summary_lines(report):
    metrics = report.get("metrics", {})
    values = next(iter(metrics.values()), {}) if metrics else {}
    shown = {k: v for k, v in values.items() if isinstance(v, (int, float)) and k != "num_examples"}
    return ", ".join(f"{k} {v:.4f}" for k, v in shown.items())


def _write_json(path, data):
    import json

    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def _train(args):
    from mmfusion_tf.config import ExperimentConfig
    from mmfusion_tf.training import Trainer

    experiment = ExperimentConfig.from_yaml(args.config)
    if args.precision:
        experiment.training.precision = args.precision
    if args.keep_checkpoints:
        experiment.training.checkpoints = True
    output_dir = args.output_dir or os.path.join("runs", experiment.model.name)
    if args.compare or experiment.model.fusion.method == "auto":
        return _train_compared(experiment, output_dir, args)
    trainer = Trainer(experiment, output_dir, verbose=args.verbose)
    trainer.prepare_data()  # every row, file and label is checked before training starts
    trainer.fit()
    print(f"trained: {os.path.join(output_dir, 'model.keras')} (stages: {', '.join(trainer.history)})")
    if args.no_evaluate:
        return 0
    print(f"evaluating on the {'test' if trainer.test_ds is not None else 'validation'} split:")
    from mmfusion_tf.evaluation import write_run_report

    report = write_run_report(trainer, **_report_options(args))
    return _print_report(report, output_dir, args)


def _train_compared(experiment, output_dir, args):
    """`mmfusion train --compare` / `fusion: {method: auto}`: baselines and fusion candidates, the kept one
    evaluated."""
    from mmfusion_tf.evaluation.compare import compare_fusion

    result = compare_fusion(experiment, output_dir, verbose=args.verbose)
    print(f"comparison: {os.path.join(output_dir, 'comparison.json')}, {result['plot']}")
    print(f"kept: {result['kept']} -> {os.path.join(output_dir, 'model.keras')} ({result['reason']})")
    if args.no_evaluate:
        return 0
    trainer = result["trainer"]
    from mmfusion_tf.evaluation import write_run_report

    report = write_run_report(trainer, output_dir=output_dir, **_report_options(args))
    print(f"evaluation of {result['kept']} on the {'test' if trainer.test_ds is not None else 'validation'} split: "
          f"{_summary_lines(report)}")
    if args.report:
        _write_json(args.report, report)
    return 0


def _evaluate(args):
    import dataclasses
    import json

    from mmfusion_tf._keras import keras
    from mmfusion_tf.config import ExperimentConfig
    from mmfusion_tf.evaluation import write_report
    from mmfusion_tf.training.experiment_data import experiment_sources
    from mmfusion_tf.training.history import stage_histories
    from mmfusion_tf.data import make_dataset

    config_path = os.path.join(args.run_dir, "experiment.yaml")
    model_path = args.model or os.path.join(args.run_dir, "model.keras")
    for path, what in ((config_path, "experiment.yaml"), (model_path, "model")):
        if not os.path.exists(path):
            raise SystemExit(f"mmfusion evaluate: {what} not found: {path} "
                             f"(is {args.run_dir} a run folder of `mmfusion train`?)")
    experiment = ExperimentConfig.from_yaml(config_path)
    model = keras.models.load_model(model_path)
    if args.data:
        source = args.data
    else:
        sources = experiment_sources(experiment)
        source = sources["test"] if sources["test"] is not None else sources["validation"]
        if source is None:
            raise SystemExit("mmfusion evaluate: the experiment has no test or validation split; pass --data MANIFEST")
    data_config = dataclasses.replace(experiment.data, cache="auto")  # not the training run's cache files
    data = make_dataset(source, experiment.model, data_config, seed=experiment.training.seed)
    history = None
    state_path = os.path.join(args.run_dir, "state.json")
    if os.path.exists(state_path):
        with open(state_path, encoding="utf-8") as f:
            history = stage_histories(json.load(f).get("history", {}))
    output_dir = args.output_dir or args.run_dir
    report = write_report(output_dir, model, data, experiment.model, history=history, seed=experiment.training.seed,
                          **_report_options(args))
    return _print_report(report, output_dir, args)


def _print_report(report, output_dir, args):
    """Prints the report's metrics and files; writes `--report` when given. Returns the exit status."""
    plots = ", ".join(sorted(report.get("plots", {}).values()))
    print(f"evaluation: {_summary_lines(report)}")
    print(f"report: {os.path.join(output_dir, 'report.json')}; plots: {plots}")
    if args.report:
        _write_json(args.report, report)
    return 0


def _report_options(args):
    options = {"analyses": args.analyses, "verbose": 1}
    if args.analysis_examples is not None:
        options["analysis_examples"] = args.analysis_examples
    return options


def _add_report_arguments(parser):
    parser.add_argument("--analyses", default="metrics,contributions,robustness",
                        help="comma-separated analyses of the report: metrics (every example), contributions, "
                        "robustness (both on --analysis-examples)")
    parser.add_argument("--analysis-examples", type=int, metavar="N",
                        help="seeded subsample for contributions and robustness (default 200; 0: every example)")


def build_parser():
    from mmfusion_tf import fusion
    from mmfusion_tf.config import PRECISIONS

    parser = argparse.ArgumentParser(
        prog="mmfusion", description="Multimodal fusion with transfer learning (TensorFlow/Keras, TF-Hub, TF Serving)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('mmfusion_tf').__version__}")
    parser.add_argument("--tf-logs", action="store_true",
                        help="show TensorFlow's C++ log lines (hidden by default; also MMFUSION_TF_LOGS=1)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    demo = verbs.add_parser(
        "demo",
        help="train and evaluate unimodal vs fused models on the embedded dataset (no download)",
        description="Pretrains small local stand-in backbones (TF-Hub format), trains each modality alone and "
        "the fused model with frozen-then-fine-tuned backbones, and prints the comparison table.",
    )
    demo.add_argument("--report", metavar="PATH", help="also write the JSON report here")
    demo.add_argument("--output-dir", default="mmfusion_demo", help="folder for report.json, the model and its config")
    demo.add_argument("--fusion", default="weighted_sum", choices=fusion.available(), help="fusion method")
    demo.add_argument("--examples", type=int, default=3000, help="generated examples")
    demo.add_argument("--epochs", type=int, default=8, help="stage-1 epochs (backbones frozen)")
    demo.add_argument("--fine-tune-epochs", type=int, default=2, help="stage-2 epochs (backbones fine-tuned)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="small fast settings (tests, CI)")
    demo.add_argument("--cache-dir", help="folder for the pretrained stand-in backbones")
    demo.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    demo.set_defaults(func=_demo)

    data = verbs.add_parser("data", help="data tools (TFRecord conversion)", description="Data tools.")
    data_verbs = data.add_subparsers(dest="data_verb", metavar="TOOL")
    to_tfrecord = data_verbs.add_parser(
        "to-tfrecord",
        help="write a CSV/JSONL manifest as sharded TFRecords with image/audio bytes inline",
        description="Checks the manifest like training does (missing files, labels) and writes "
        "{output}-00000-of-N.tfrecord shards of tf.train.Example, with each file's encoded bytes inline.",
    )
    to_tfrecord.add_argument("source", help="manifest (.csv, .tsv, .jsonl); file paths relative to it")
    to_tfrecord.add_argument("--config", required=True,
                             help="model config or experiment YAML (names the inputs to store)")
    to_tfrecord.add_argument("--output", required=True, help="output path prefix of the shards")
    to_tfrecord.add_argument("--shards", type=int, default=1)
    to_tfrecord.add_argument("--label", default="label", help="label column")
    to_tfrecord.add_argument("--no-label", action="store_true", help="unlabelled data")
    to_tfrecord.add_argument("--on-error", choices=["raise", "skip"], default="raise")
    to_tfrecord.add_argument("--max-audio-seconds", type=float, default=5.0)
    to_tfrecord.set_defaults(func=_to_tfrecord)

    train = verbs.add_parser(
        "train",
        help="train a model from an experiment YAML (model + data + training)",
        description="Checks the config and the data (unknown keys, missing columns or files, labels outside the "
        "head's classes) before training, runs the transfer-learning stages (frozen backbones, then fine-tuning), "
        "and writes checkpoints, logs, model.keras and an evaluation report (report.json + PNGs). Rerunning the "
        "same command after an interruption resumes where it stopped.",
    )
    train.add_argument("config", help="experiment YAML with model:, data: and training:")
    train.add_argument("--output-dir", help="run folder (default runs/<model name>)")
    train.add_argument("--precision", choices=list(PRECISIONS),
                       help="override training.precision")
    train.add_argument("--report", metavar="PATH", help="also write the JSON report here")
    train.add_argument("--keep-checkpoints", action="store_true",
                       help="keep every stage's and epoch's weights in the run folder (training.checkpoints: true); "
                       "by default only model.keras holds weights once the run ends")
    train.add_argument("--no-evaluate", action="store_true", help="skip the evaluation report")
    train.add_argument("--compare", action="store_true",
                       help="also train each modality alone (and, with fusion method auto, gated and concat fusion); "
                       "keep the fused model only if it validates at least as well as the best single modality "
                       "(comparison.json + comparison.png)")
    train.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2], help="Keras verbosity (1: progress bars)")
    _add_report_arguments(train)
    train.set_defaults(func=_train)

    evaluate = verbs.add_parser(
        "evaluate",
        help="evaluate a trained run: report.json, confusion matrix, modality contributions, robustness curve",
        description="Loads RUN_DIR/model.keras and RUN_DIR/experiment.yaml and evaluates on --data or on the "
        "experiment's test split; writes report.json and PNGs (training curves, confusion matrix, modality "
        "contributions, robustness curve).",
    )
    evaluate.add_argument("run_dir", help="folder written by `mmfusion train`")
    evaluate.add_argument("--data", help="manifest or TFRecords to evaluate on (default: the test split)")
    evaluate.add_argument("--model", help="model file (default RUN_DIR/model.keras)")
    evaluate.add_argument("--output-dir", help="where to write the report (default RUN_DIR)")
    evaluate.add_argument("--report", metavar="PATH", help="also write the JSON report here")
    _add_report_arguments(evaluate)
    evaluate.set_defaults(func=_evaluate)

    # Verbs that live with their packages (each module adds its own parser).
    from mmfusion_tf.export.command import add_export_parser
    from mmfusion_tf.hub.command import add_hub_parser
    from mmfusion_tf.serving.command import add_serving_parsers
    from mmfusion_tf.tuning.command import add_tune_parser

    add_tune_parser(verbs)
    add_export_parser(verbs)
    add_serving_parsers(verbs)
    add_hub_parser(verbs)
    return parser


def main(argv=None):
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are not for CLI users
    # Keras warns on every tf.data input of unknown length (evaluate and predict too; fit hides it itself).
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not (args.tf_logs or os.environ.get("MMFUSION_TF_LOGS", "").lower() in ("1", "true", "yes")):
        from mmfusion_tf._console import TensorFlowLogFilter

        TensorFlowLogFilter().start()
    import mmfusion_tf

    mmfusion_tf.import_all()  # every layer registered with Keras before a verb loads a model
    try:
        return args.func(args)
    except (ValueError, KeyError, OSError, TypeError) as error:
        # Bad config or data: the message names the key, file or row; a traceback adds nothing.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"mmfusion {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
