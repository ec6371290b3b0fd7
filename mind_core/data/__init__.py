"""The data stage: MovieLens files in any layout (or generated ones) read into one set of
normalized tables (``tables``), from folders, zips and CSVs (``sources``, ``readers``,
``movielens_csv``), fetched into the data folder (``fetch``) or synthesised (``synth``; with
users of known tastes and the truth that records them, ``tastes``)."""

from mind_core.data.fetch import KNOWN, data_dir, resolve_dataset_path
from mind_core.data.readers import read_dataset
from mind_core.data.synth import generate
from mind_core.data.tables import Dataset, make_dataset
from mind_core.data.tastes import TastesConfig, Truth, generate_tastes, has_truth, load_truth

__all__ = ["Dataset", "make_dataset", "read_dataset", "data_dir", "resolve_dataset_path",
           "KNOWN", "generate", "TastesConfig", "Truth", "generate_tastes", "has_truth",
           "load_truth"]
