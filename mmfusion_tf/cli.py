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
