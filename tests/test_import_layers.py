"""The package's import direction: lower layers never import higher ones, and no package cycles.

Layers, lowest first (issue 21): fusion -> config -> backbones -> models -> data -> training ->
evaluation -> export -> serving -> CLI. `fusion` is below `config` because config validation asks
the fusion layers what they take (`fusion.spec`, `fusion.check_options`); the fusion layers import
only the helper modules of the first level. Every `mmfusion_tf` import counts, also those inside
functions. `KNOWN` lists the upward imports that exist today: a new one fails this test, and so
does an entry that no longer occurs (remove it when it is fixed).
"""

import ast
import os

import mmfusion_tf

ROOT = os.path.dirname(mmfusion_tf.__file__)

# Lowest first; packages on one level may import each other's lower levels only.
LAYERS = [
    {"_lazy", "_status", "_console", "_atomic", "_validation", "_keras", "_private_apis", "hub_handles", "hub_mirror",
     "presets"},
    {"fusion"},
    {"config"},
    {"backbones"},
    {"hub", "models"},
    {"data", "datasets"},
    {"training"},
    {"evaluation"},
    {"tuning", "export"},
    {"serving"},
    {"demo", "cli"},
]
LEVEL = {package: i for i, packages in enumerate(LAYERS) for package in packages}

# (importing package, imported package): the upward imports still to fix (issue 21).
KNOWN = set()


def _package(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def package_imports():
    """`{(importing package, imported package)}` over every `mmfusion_tf` import in the package."""
    edges = set()
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
            importer = _package(relative.removesuffix(".__init__"))
            if importer is None:
                continue
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mmfusion_tf"):
                    names = ([node.module] if node.module != "mmfusion_tf"
                             else [f"mmfusion_tf.{a.name}" for a in node.names])
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names if a.name.startswith("mmfusion_tf.")]
                for imported in filter(None, map(_package, names)):
                    if imported != importer:
                        edges.add((importer, imported))
    return edges


def test_every_package_has_a_layer():
    packages = {name.removesuffix(".py") for name in os.listdir(ROOT)
                if name != "__init__.py" and (name.endswith(".py") or os.path.isdir(os.path.join(ROOT, name)))}
    packages.discard("__pycache__")
    assert packages <= set(LEVEL), f"give these a layer in LAYERS: {sorted(packages - set(LEVEL))}"


def test_no_new_upward_import_and_known_ones_still_exist():
    edges = package_imports()
    upward = {(a, b) for a, b in edges if LEVEL[b] > LEVEL[a]}
    new = upward - KNOWN
    assert not new, f"upward imports (a lower layer importing a higher one): {sorted(new)}"
    fixed = KNOWN - upward
    assert not fixed, f"fixed: remove {sorted(fixed)} from KNOWN"
    assert len(edges) > 20  # the walk saw the package's imports


def test_models_no_longer_import_training_nor_backbones_hub():
    edges = package_imports()
    assert ("models", "training") not in edges and ("backbones", "hub") not in edges
    assert ("training", "evaluation") not in edges  # reports: evaluation.write_run_report(trainer)
