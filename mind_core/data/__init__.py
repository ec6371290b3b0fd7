"""The data stage: MovieLens files in any layout (or generated ones) read into one set of
normalized tables (``tables``), from folders, zips and CSVs (``sources``, ``readers``,
``movielens_csv``), fetched into the data folder (``fetch``) or synthesised (``synth``)."""

from mind_core.data.fetch import KNOWN, data_dir, resolve_dataset_path
from mind_core.data.readers import read_dataset
from mind_core.data.synth import generate
from mind_core.data.tables import Dataset, make_dataset

__all__ = ["Dataset", "make_dataset", "read_dataset", "data_dir", "resolve_dataset_path",
           "KNOWN", "generate"]
