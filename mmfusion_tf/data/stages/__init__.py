"""The stages of `make_dataset`: small functions from a dict of tensors to a dict of tensors.

A manifest, DataFrame or dict source runs them in this order, each on a
batch of up to 64 rows (`pipeline.py` composes them):

    shuffle_order -> read_rows -> select_inputs -> decode_files -> resample_audio
    (the last two skipped by cache_decoded for rows it holds)
    -> [Dataset.ignore_errors] -> check_rows -> augment_images -> split_label
    -> [Dataset.batch or rebatch] -> [Dataset.prefetch]

TFRecords stream instead: records are parsed and counted
(`tfrecord.read_rows`), then `select_inputs` and `decode_files` run one
record at a time, then the rest as above, with a shuffle buffer. Before
any of this, a source's columns are read and checked in Python
(`sources.py`) and its file headers scanned (`scan.py`).

Every stage works eagerly and inside `Dataset.map` (tests/data/test_stages.py
runs each both ways). Between stages an example carries, besides the
model's inputs, the keys below, named with double underscores to keep
them apart from the model's input names (modality and table column names);
`split_label` drops them.
"""

# Where a row stands in the pass (0, 1, ...): the check stage finds rows that
# failed to decode (and were dropped by `ignore_errors`) as gaps in these.
POSITION = "__position__"
# The row of the source table a position reads (the shuffled order): what
# the decoded-row cache is indexed by.
INDEX = "__index__"
# The label, until `split_label` turns an example into `(features, label)`.
LABEL = "__label__"
