"""Export for TensorFlow Serving: versioned raw-input SavedModels, warmup, parity.

Example:

>>> from mmfusion_tf import export
>>> path = export.export_saved_model(model, config, "models/fusion", examples="data/test.csv")
>>> export.parity_check(model, config, path, "data/test.csv")
{'probabilities': 1.2e-07, 'classes': 0.0, 'fusion_weights': 5.9e-08, 'embedding': 2.4e-07}
>>> export.text_ops_report(path)["missing_from_stock_serving"]
[]
"""

from mmfusion_tf._lazy import lazy_names

_NAMES = {
    "raw_examples": "examples",
    "synthetic_examples": "examples",
    "parity_check": "parity",
    "saved_model_cli_show": "parity",
    "export_saved_model": "saved_model",
    "next_version": "saved_model",
    "read_metadata": "saved_model",
    "versions": "saved_model",
    "Limits": "limits",
    "input_signature": "signatures",
    "text_ops_report": "text_ops",
    "WARMUP_FILE": "warmup",
    "predict_request": "warmup",
    "read_warmup_requests": "warmup",
}

__getattr__, __dir__ = lazy_names(__name__, _NAMES)

__all__ = [
    "Limits", "WARMUP_FILE", "export_saved_model", "input_signature", "next_version", "parity_check",
    "predict_request", "raw_examples", "read_metadata", "read_warmup_requests", "saved_model_cli_show",
    "synthetic_examples", "text_ops_report", "versions",
]
