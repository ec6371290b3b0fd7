"""Serving: per-interest search through an item index (``backends``), the K lists merged into
one (``merging``, ``recommend``; every evaluated user at once: ``lists``), what each interest
stands for (``explain``), the UMAP map (``projection``), a bundle's index and map files
(``files``) and the ONNX towers (``onnx_export``)."""

from mind_core.serving.backends import (
    ANNOY_FILE,
    BACKENDS,
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_M,
    DEFAULT_N_TREES,
    DEFAULT_NPROBE,
    DEFAULT_SEARCH_K,
    FAISS_FILE,
    FAISS_KINDS,
    SEARCH_K_FLOOR,
    SERVING_FILE,
    AnnoyIndex,
    ExactIndex,
    FaissIndex,
    ItemIndex,
    PerInterest,
)
from mind_core.serving.explain import interest_labels
from mind_core.serving.files import build_serving_files, rebuild_serving_files
from mind_core.serving.lists import interest_weights, merged_tops, own_tops
from mind_core.serving.merging import MERGE_STRATEGIES, history_shares, merge, merge_arrays
from mind_core.serving.onnx_export import export_onnx
from mind_core.serving.projection import (
    PROJECTION_FILE,
    fit_projection,
    load_projection,
    nearest_items,
)
from mind_core.serving.retrieval import (
    Recommendation,
    all_histories,
    load_index,
    recommend,
    serving_params,
    user_history,
)

__all__ = ["ItemIndex", "PerInterest", "ExactIndex", "AnnoyIndex", "FaissIndex", "BACKENDS",
           "ANNOY_FILE", "FAISS_FILE", "SERVING_FILE", "DEFAULT_N_TREES", "DEFAULT_SEARCH_K",
           "SEARCH_K_FLOOR", "FAISS_KINDS", "DEFAULT_M", "DEFAULT_EF_CONSTRUCTION",
           "DEFAULT_EF_SEARCH", "DEFAULT_NPROBE", "MERGE_STRATEGIES", "merge", "merge_arrays",
           "history_shares", "own_tops", "interest_weights", "merged_tops",
           "interest_labels", "Recommendation", "recommend", "load_index", "user_history",
           "all_histories", "serving_params", "build_serving_files", "rebuild_serving_files",
           "PROJECTION_FILE", "fit_projection", "load_projection", "nearest_items",
           "export_onnx"]
