"""From tables to tensors: integer ids with 0 for padding (``encoding``), the chronological,
leak-free samples a protocol defines (``split``) and sampled negatives (``negatives``)."""

from mind_core.features.encoding import Encoded, encode
from mind_core.features.negatives import NegativeSampler
from mind_core.features.split import EvalSet, Split, build_split, serving_histories

__all__ = ["Encoded", "encode", "Split", "EvalSet", "build_split", "serving_histories",
           "NegativeSampler"]
