"""tf.data input pipelines: manifests, TFRecords, in-memory data -> `(features, label)`.

Example:

>>> from mmfusion_tf import data
>>> train = data.make_dataset("train.csv", config, data.DataConfig(batch_size=64), training=True)
"""

from mmfusion_tf.config import DataConfig
from mmfusion_tf.data.pipeline import ErrorReport, make_dataset
from mmfusion_tf.data.splits import class_weights, stratified_split
from mmfusion_tf.data.tfrecord import write_tfrecords

__all__ = ["DataConfig", "ErrorReport", "class_weights", "make_dataset", "stratified_split", "write_tfrecords"]
