"""The dev server's model manager: versions on disk -> loaded servables -> Predict/metadata/status.

It follows TF Serving's ServerCore as far as a client can tell:

- a model is a `base_path` whose numeric sub-folders are versions; the version policy picks which to
  serve (`latest { num_versions: N }` (default N=1), `all {}`, `specific { versions: ... }`);
- `version_labels` name versions; a label may only point at an AVAILABLE version;
- new versions are loaded (warmup replayed from `assets.extra/tf_serving_warmup_requests`) before old
  ones are unloaded, so a model never goes unavailable; an unloaded or failed version reports `END`;
- requests are answered with TF Serving's status codes and messages (servables/tensorflow/predict_util.cc,
  get_model_status_impl.cc, get_model_metadata_impl.cc, server_core.cc).

Example:

>>> manager = ModelManager(single_model_config("/exports/demo", "demo"))
>>> manager.poll()  # loads version(s) per policy; call again to pick up new ones
>>> manager.get_model_status(request).model_version_status[0].state  # AVAILABLE == 30
"""

import collections
import logging
import os
import threading

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import error_codes_pb2, saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from mmfusion_tf._private_apis import signature_caller
from mmfusion_tf.hub_handles import register_text_ops
from mmfusion_tf.export import warmup as export_warmup
from mmfusion_tf.export.saved_model import versions
from mmfusion_tf.serving import tensors
from mmfusion_tf.serving.errors import ServingError, invalid_argument, not_found, op_error_text

log = logging.getLogger("mmfusion_tf.serving")

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF_FIELD = "signature_def"
WARMUP_FILE = os.path.join("assets.extra", export_warmup.WARMUP_FILE)
MAX_WARMUP_RECORDS = export_warmup.MAX_WARMUP_RECORDS  # TF Serving's WarmupConsts::kMaxNumRecords
MAX_LOAD_RETRIES = 5  # TF Serving's --max_num_load_retries default
_State = get_model_status_pb2.ModelVersionStatus.State


def single_model_config(base_path, model_name):
    """The `ModelServerConfig` that `--model_base_path --model_name` would give (policy: latest 1)."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name=model_name, base_path=os.path.abspath(base_path))
    model.model_platform = "tensorflow"
    return config


def read_model_config_file(path):
    """Parses a text-format `models.config` (ModelServerConfig); relative base paths are taken from the CWD."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ValueError(f"Invalid protobuf file: '{path}': {error}") from None
    return config


def _validate_config(config):
    if config.WhichOneof("config") != "model_config_list":
        raise invalid_argument("ServerModelConfig type not supported by HandleReloadConfigRequest. "
                               "Only ModelConfigList is currently supported")
    names = set()
    for model in config.model_config_list.config:
        if not model.name:
            raise invalid_argument("Missing model name in model config")
        if model.name in names:
            raise invalid_argument(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
        if model.model_platform not in ("", "tensorflow"):
            raise invalid_argument(f"Model platform {model.model_platform!r} of model {model.name} is not served by "
                                   "the mmfusion dev server (only 'tensorflow')")


def _status_from_exception(error):
    """A ServingError for anything raised while loading or running a servable."""
    if isinstance(error, ServingError):
        return error
    if isinstance(error, UnicodeDecodeError):  # an op quoted raw request bytes in its message: still the input's fault
        return invalid_argument("A TensorFlow op rejected the request with a message that is not valid UTF-8 (it "
                                f"quotes raw input bytes): {error.object[:200]!r}")
    if isinstance(error, tf.errors.OpError):
        return ServingError(error_codes_pb2.Code.Name(error.error_code), op_error_text(error.message))
    return ServingError("UNKNOWN", f"{type(error).__name__}: {error}")


_EXAMPLE_APIS = {"Classify": ("classification", "tensorflow/serving/classify"),
                 "Regress": ("regression", "tensorflow/serving/regress")}


def servable_request_string(name, version=None):
    """ServableRequest::DebugString: `Latest(name)` or `Specific(name, 3)`."""
    return f"Latest({name})" if version is None else f"Specific({name}, {version})"


class _Signature(collections.namedtuple("_Signature", ["definition", "call", "input_specs", "outputs"])):
    """One signature of a loaded version: its SignatureDef, `call(feeds) -> outputs`
    (`_private_apis.signature_caller`), `tensors.input_specs` and its sorted output names."""


class Servable:
    """One loaded version: the restored object, its SignatureDefs and the callable signatures."""

    def __init__(self, name, version, path):
        self.name, self.version, self.path = name, version, path
        self.signature_defs = self._read_signature_defs(path)
        register_text_ops()  # stock TF Serving links the TF-Text kernels into its binary
        self.loaded = tf.saved_model.load(path, tags=["serve"])
        # What a request needs of each signature, read once: the SignatureDefs' protobuf maps cost more per
        # request than the conversion.
        self.signatures = {
            name: _Signature(self.signature_defs[name], signature_caller(function),
                             tensors.input_specs(self.signature_defs[name]), sorted(self.signature_defs[name].outputs))
            for name, function in self.loaded.signatures.items() if name in self.signature_defs}
        self.warmup_records = 0

    @staticmethod
    def _read_signature_defs(path):
        saved_model = saved_model_pb2.SavedModel()
        pb_path = os.path.join(path, "saved_model.pb")
        if not os.path.exists(pb_path):
            raise ServingError("NOT_FOUND", f"Could not find SavedModel .pb or .pbtxt at supplied export directory "
                                            f"path: {path}")
        with open(pb_path, "rb") as f:
            saved_model.ParseFromString(f.read())
        for meta_graph in saved_model.meta_graphs:
            if "serve" in meta_graph.meta_info_def.tags:
                return dict(meta_graph.signature_def)
        raise ServingError("NOT_FOUND", f"Could not find meta graph def matching supplied tags: {{ serve }}. "
                                        f"To inspect available tag-sets in the SavedModel, please use the "
                                        f"SavedModel CLI: `saved_model_cli` ({path})")

    def replay_warmup(self):
        """Runs the PredictionLog records in assets.extra/tf_serving_warmup_requests; an error fails the load."""
        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.exists(path):
            log.info("No warmup data file found at %s", path)
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise invalid_argument(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
            entry = prediction_log_pb2.PredictionLog()
            try:
                entry.ParseFromString(record)
            except Exception:  # noqa: BLE001 - protobuf raises DecodeError subclasses
                raise invalid_argument(f"Failed to parse warmup record: {record[:40]!r} from {path}") from None
            kind = entry.WhichOneof("log_type")
            if kind != "predict_log":
                raise ServingError("UNIMPLEMENTED", f"Unsupported log_type for warmup: {kind} (the dev server "
                                                    f"replays predict_log records only) at {path}")
            self.predict(entry.predict_log.request)
        self.warmup_records = count
        log.info("Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, count)
        return count

    def signature(self, signature_name):
        name = signature_name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
        return name, self.signatures[name]

    def predict(self, request):
        """Runs a PredictRequest on this version (predict_util.cc, RunPredict)."""
        name, signature = self.signature(request.model_spec.signature_name)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.name
        response.model_spec.version.value = self.version
        response.model_spec.signature_name = name
        feeds = self._feeds(signature.input_specs, request)
        aliases = self._output_aliases(signature.outputs, request.output_filter)
        try:
            outputs = signature.call(feeds)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status
            raise _status_from_exception(error) from None
        for alias in aliases:
            tensors.fill_response_proto(response.outputs[alias], outputs[alias].numpy())
        return response

    @staticmethod
    def _feeds(specs, request):
        """The signature's inputs as tensors, with TF Serving's messages for missing, extra and mistyped ones."""
        sent = request.inputs
        if len(sent) != len(specs) or any(alias not in specs for alias in sent):
            sent, expected = set(sent), set(specs)
            if len(sent) != len(expected):
                raise invalid_argument(
                    f"input size does not match signature: {len(sent)}!={len(expected)} "
                    f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                    f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                    f"Missing but required: {{{','.join(sorted(expected - sent))}}}.")
            alias = min(sent - expected)
            raise invalid_argument(f"input tensor alias not found in signature: {alias}. Inputs expected to be "
                                   f"in the set {{{','.join(sorted(expected))}}}.")
        feeds = {}
        for index, alias in enumerate(sorted(sent)):
            proto = sent[alias]
            datatype, dtype, expected_shape = specs[alias]
            if proto.dtype != datatype:
                raise invalid_argument(f"Expects arg[{index}] to be {tensors.dtype_name(datatype)} but "
                                       f"{tensors.dtype_name(proto.dtype)} is provided")
            try:
                array = tensors.to_ndarray(proto)
            except Exception:  # noqa: BLE001 - malformed TensorProto
                raise invalid_argument(f"tensor parsing error: {alias}") from None
            if not tensors.is_compatible(array.shape, expected_shape):
                raise invalid_argument(f"input tensor alias {alias}: shape {list(array.shape)} is not compatible "
                                       f"with the signature's shape {expected_shape}")
            feeds[alias] = tf.constant(array, dtype=dtype)
        return feeds

    @staticmethod
    def _output_aliases(available, output_filter):
        """The outputs to answer: `output_filter`'s, checked, or all (`available`, sorted)."""
        seen = []
        for alias in output_filter:
            if alias not in available:
                raise invalid_argument(f"output tensor alias not found in signature: {alias} Outputs expected to be "
                                       f"in the set {{{','.join(available)}}}.")
            if alias in seen:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.append(alias)
        return seen or available


class _Model:
    """One configured model: its policy, its loaded versions and every version's last state."""

    def __init__(self, config):
        self.config = config
        self.available = {}  # version -> Servable
        self.states = {}  # version -> (State, ServingError or None), what GetModelStatus reports
        self.failures = {}  # version -> failed load attempts

    @property
    def name(self):
        return self.config.name

    def versions_on_disk(self):
        base = self.config.base_path
        if not os.path.isdir(base):
            raise FileNotFoundError(f"Could not find base path {base} for servable {self.name}")
        return versions(base)

    def aspired(self, on_disk):
        policy = self.config.model_version_policy
        kind = policy.WhichOneof("policy_choice")
        if kind == "all":
            return set(on_disk)
        if kind == "specific":
            return set(on_disk) & set(policy.specific.versions)
        keep = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions > 0 else 1
        return set(on_disk[-keep:])

    def latest(self):
        return self.available[max(self.available)] if self.available else None


def _requested_version(model_spec, labels):
    """The version a ModelSpec names (by number or by label), or None for the latest."""
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version_label":
        if model_spec.version_label not in labels:
            raise invalid_argument(f"Unrecognized servable version label: {model_spec.version_label}")
        return labels[model_spec.version_label]
    return model_spec.version.value if choice == "version" else None


class ModelManager:
    """Loads, serves and replaces model versions for the dev server.

    Args:
        config: `ModelServerConfig` with a `model_config_list`.
        warmup: bool, replay each version's warmup requests before it becomes AVAILABLE.
        allow_version_labels_for_unavailable_models: bool, accept labels naming versions that are not loaded.
    """

    def __init__(self, config, warmup=True, allow_version_labels_for_unavailable_models=False):
        _validate_config(config)
        self.warmup = warmup
        self.allow_version_labels_for_unavailable_models = allow_version_labels_for_unavailable_models
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._models = {model.name: _Model(model) for model in config.model_config_list.config}

    # --- loading --------------------------------------------------------------------------------

    def poll(self):
        """One pass of the file-system source: load aspired versions, then unload the others."""
        with self._poll_lock:
            for model in list(self._models.values()):
                try:
                    on_disk = model.versions_on_disk()
                except FileNotFoundError as error:
                    log.warning("%s", error)
                    continue
                if not on_disk:
                    log.warning("No versions of servable %s found under base path %s", model.name,
                                model.config.base_path)
                aspired = model.aspired(on_disk)
                for version in sorted(aspired - set(model.available), reverse=True):
                    self._load(model, version)
                # AvailabilityPreservingPolicy: old versions go once an aspired one serves; until then the newest stays.
                unaspired = sorted(set(model.available) - aspired)
                if not aspired & set(model.available):
                    unaspired = unaspired[:-1]
                for version in unaspired:
                    self._unload(model, version)
                for version in list(model.failures):
                    if version not in aspired:  # gone from disk or policy: forget the failure
                        del model.failures[version]

    def _load(self, model, version):
        if model.failures.get(version, 0) > MAX_LOAD_RETRIES:
            return
        path = os.path.join(model.config.base_path, str(version))
        with self._lock:
            model.states[version] = (_State.LOADING, None)
        try:
            servable = Servable(model.name, version, path)
            if self.warmup:
                servable.replay_warmup()
        except Exception as error:  # noqa: BLE001 - a bad version must not stop the server
            status = _status_from_exception(error)
            model.failures[version] = model.failures.get(version, 0) + 1
            log.error("Loading servable: {name: %s version: %d} failed: %s", model.name, version, status)
            with self._lock:
                model.states[version] = (_State.END, status)
            return
        with self._lock:
            model.available[version] = servable
            model.states[version] = (_State.AVAILABLE, None)
            model.failures.pop(version, None)
        log.info("Successfully loaded servable version {name: %s version: %d}", model.name, version)

    def _unload(self, model, version):
        with self._lock:
            model.available.pop(version, None)
            model.states[version] = (_State.END, None)
        log.info("Unloaded servable version {name: %s version: %d}", model.name, version)

    def check_labels(self):
        """Raises FAILED_PRECONDITION when a label points at a version that is not AVAILABLE (unless allowed)."""
        if self.allow_version_labels_for_unavailable_models:
            return
        with self._lock:
            for model in self._models.values():
                for label, version in model.config.version_labels.items():
                    if version not in model.available:
                        raise ServingError("FAILED_PRECONDITION", f"Request to assign label to version {version} of "
                                                                  f"model {model.name}, which is not currently "
                                                                  f"available for inference ({label})")

    def reload_config(self, config):
        """HandleReloadConfigRequest: new models load, removed ones unload, kept ones take the new policy."""
        _validate_config(config)
        with self._poll_lock:
            with self._lock:
                models = {}
                for model_config in config.model_config_list.config:
                    model = self._models.get(model_config.name) or _Model(model_config)
                    if model.config.base_path != model_config.base_path:
                        model = _Model(model_config)
                    model.config = model_config
                    models[model_config.name] = model
                self._models = models
        self.poll()
        self.check_labels()

    def model_names(self):
        with self._lock:
            return sorted(self._models)

    def available_versions(self, name):
        with self._lock:
            model = self._models.get(name)
            return sorted(model.available) if model else []

    # --- requests -------------------------------------------------------------------------------

    def resolve(self, model_spec):
        """The Servable a ModelSpec asks for (latest, a version or a label), or NOT_FOUND / INVALID_ARGUMENT."""
        if not model_spec.name:
            raise invalid_argument("Missing model name in request.")
        with self._lock:
            model = self._models.get(model_spec.name)
            version = _requested_version(model_spec, model.config.version_labels if model else {})
            servable = None
            if model is not None:
                servable = model.latest() if version is None else model.available.get(version)
        if servable is None:
            raise not_found(f"Servable not found for request: {servable_request_string(model_spec.name, version)}")
        return servable

    def predict(self, request):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        return self.resolve(request.model_spec).predict(request)

    def example_api(self, request, api):
        """Classify / Regress (`api`): TF Serving's INVALID_ARGUMENT for a signature of another kind.

        The dev server does not run the tf.Example APIs; a signature of the
        right kind answers UNIMPLEMENTED.
        """
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        _, signature = self.resolve(request.model_spec).signature(request.model_spec.signature_name)
        signature_def = signature.definition
        kind, method = _EXAMPLE_APIS[api]
        if signature_def.method_name != method:
            raise invalid_argument(f"Expected {kind} signature method_name to be {method}. "
                                   f"Was: {signature_def.method_name}")
        raise ServingError("UNIMPLEMENTED", f"{api} is not supported by the mmfusion dev server: use Predict "
                                            "(or tensorflow/serving for the tf.Example APIs)")

    def get_model_metadata(self, request):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        servable = self.resolve(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in servable.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature_def)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response

    def get_model_status(self, request):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        if not spec.name:
            raise invalid_argument("Missing model name in request.")
        with self._lock:
            model = self._models.get(spec.name)
            states = dict(model.states) if model else {}
            labels = dict(model.config.version_labels) if model else {}
        version = _requested_version(spec, labels)
        if version is not None:
            versions = [version]
        else:
            versions = sorted(states, reverse=True)  # ServableStateMonitor::VersionMap is ordered newest first
            if not versions:
                raise not_found(f"Could not find any versions of model {spec.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in versions:
            if version not in states:
                raise not_found(f"Could not find version {version} of model {spec.name}")
            state, error = states[version]
            entry = response.model_version_status.add(version=version, state=state)
            entry.status.error_code = error_codes_pb2.Code.Value(error.code) if error else 0
            entry.status.error_message = error.message if error else ""
        return response
