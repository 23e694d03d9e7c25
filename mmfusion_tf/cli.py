"""The `mmfusion` command line.

Example:

    mmfusion demo --report report.json
    mmfusion --help
"""

import argparse
import sys


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
    from mmfusion_tf.config import ModelConfig
    from mmfusion_tf.data import write_tfrecords

    config = ModelConfig.from_yaml(args.config)
    paths = write_tfrecords(
        args.source, config, args.output, num_shards=args.shards, label=None if args.no_label else args.label,
        on_error=args.on_error, max_audio_seconds=args.max_audio_seconds,
    )
    print(f"wrote {len(paths)} shard(s): {paths[0]}" + (f" ... {paths[-1]}" if len(paths) > 1 else ""))
    return 0


def build_parser():
    from mmfusion_tf import fusion

    parser = argparse.ArgumentParser(
        prog="mmfusion", description="Multimodal fusion with transfer learning (TensorFlow/Keras, TF-Hub, TF Serving)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('mmfusion_tf').__version__}")
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
    to_tfrecord.add_argument("--config", required=True, help="model config YAML (names the inputs to store)")
    to_tfrecord.add_argument("--output", required=True, help="output path prefix of the shards")
    to_tfrecord.add_argument("--shards", type=int, default=1)
    to_tfrecord.add_argument("--label", default="label", help="label column")
    to_tfrecord.add_argument("--no-label", action="store_true", help="unlabelled data")
    to_tfrecord.add_argument("--on-error", choices=["raise", "skip"], default="raise")
    to_tfrecord.add_argument("--max-audio-seconds", type=float, default=5.0)
    to_tfrecord.set_defaults(func=_to_tfrecord)
    return parser


def main(argv=None):
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are not for CLI users
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
