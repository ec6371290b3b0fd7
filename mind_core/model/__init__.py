"""The MIND model: behaviours and profile in, K interest vectors out (the user tower), and the
item tower, in the paper's order (``mind``); hand-written gradients apart (``autograd``)."""

from mind_core.model.mind import (
    MIND,
    B2IRouting,
    InterestMLP,
    ItemEmbedding,
    build_model,
    candidate_aware_scores,
    dynamic_interest_number,
    equalize_norms,
    gather_rows,
    label_aware_attention,
    squash,
)

__all__ = ["MIND", "B2IRouting", "InterestMLP", "ItemEmbedding", "build_model",
           "candidate_aware_scores", "dynamic_interest_number", "equalize_norms", "gather_rows",
           "label_aware_attention", "squash"]
