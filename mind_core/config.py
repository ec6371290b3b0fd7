"""What a MIND run is configured by, grouped by concern.

``MINDConfig`` is the one flat object callers pass around (``MINDConfig(interest_num=4)``,
``config.embed_dim``, ``dataclasses.replace``), built from four groups that each hold one
concern and can be read alone:

- :class:`Architecture`: the model itself (what :mod:`mind_core.model` reads);
- :class:`LossSettings`: the training objective, including the penalties that keep a user's
  interests apart;
- :class:`TrainingSettings`: the optimiser loop, the seed and the device;
- :class:`EvaluationSettings`: which protocol splits the data.

A field's own declaration says how it takes part in a model's identity (the hash in its bundle
name, :func:`mind_core.artifacts.paths.model_name`): ``setting(..., changes_results=False)``
for a field that does not change what is learned (``device``), ``setting(..., before=V)`` for
a field added after the first bundles were written, ``V`` being the value every earlier
model implicitly had. Adding a field is one declaration; nothing else lists fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, fields

_ALWAYS = object()  # "this field existed when the first bundles were written"


def setting(default, *, changes_results: bool = True, before=_ALWAYS):
    """A config field. ``changes_results=False``: left out of a model's identity.
    ``before=V``: added later; left out of the identity while it equals ``V``, and a
    config.json that lacks it reads as ``V`` (not as today's default)."""
    return dataclasses.field(default=default, metadata={
        "changes_results": changes_results, "before": before})


class _Group:
    """Validation shared by the groups: each states its checks; bad values raise one
    ``ValueError`` naming every invalid field."""

    def checks(self) -> dict[str, bool]:
        return {}

    def resolve(self) -> None:
        """Fill in defaults that depend on other fields (before the checks)."""

    def __post_init__(self):
        self.resolve()
        bad = [k for k, ok in self.checks().items() if not ok]
        if bad:
            shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            raise ValueError(f"{type(self).__name__}: invalid {shown}")


@dataclass
class Architecture(_Group):
    interest_num: int = 4  # K: max interests per user (1 = a single-vector model); 1..8
    embed_dim: int = 64  # D: item and interest vector size; 16..128
    max_length: int = 20  # L: most recent behaviours routed; 10..100
    routing_iters: int = 3  # r: B2I routing iterations (paper: 3); 1..5
    routing_init_std: float = 1.0  # σ of the fixed routing logits b_ij ~ N(0, σ²); 0.1..5
    dynamic_k: bool = True  # K'_u = max(1, min(K, floor(log2 n_u))) (paper Eq. 9)
    pow_p: float = 2.0  # label-aware attention sharpness: 0 = mean, large = hard max; 0..10
    profile_dim: int = 8  # embedding size of each profile feature (gender, age, occupation, zip)
    # ReLU layer widths after concatenating the profile; None = one layer of 2·embed_dim (128
    # at the default D), resolved when the config is built. Measured at D=16: 32 and 128 score
    # the same (docs/results.md, "Choosing the defaults"); 1..4 layers of D..4D
    mlp_hidden: tuple[int, ...] | None = None
    recency: bool = True  # extension: recency-weighted routing (not in the paper)
    candidate_attention: bool = True  # extension: attention per candidate (not in the paper)
    # every active interest of a user rescaled to the mean length of that user's interests, so
    # that no interest wins the max-over-interests merge by its length alone
    equal_norms: bool = setting(False, before=False)

    def resolve(self) -> None:
        # resolved here, so config.json states the widths (dataclasses.replace keeps them)
        self.mlp_hidden = ((2 * self.embed_dim,) if self.mlp_hidden is None
                           else tuple(self.mlp_hidden))

    def checks(self) -> dict[str, bool]:
        return {"interest_num": self.interest_num >= 1, "embed_dim": self.embed_dim >= 1,
                "max_length": self.max_length >= 1, "routing_iters": self.routing_iters >= 1,
                "pow_p": self.pow_p >= 0,
                "mlp_hidden": all(isinstance(h, int) and h >= 1 for h in self.mlp_hidden)}


@dataclass
class LossSettings(_Group):
    loss: str = "sampled_softmax"  # "sampled_softmax" (shared negatives) or "listwise" (tutorial)
    temperature: float = 0.1  # logits are divided by it; 0.02..1
    neg_ratio: int = 3  # listwise: sampled negatives per positive (tutorial: 3)
    shared_negatives: int = 0  # sampled_softmax: negatives shared per batch; 0 = whole catalogue
    sample_method: str = "uniform"  # "uniform" or "popularity" (log-Q corrected in the loss)
    # --- keeping interests distinct (docs/results.md, "Interests that differ"); 0 = off ---
    # λ_sim: adds λ · (mean squared cosine between a user's active interests) to the loss;
    # 0..1 (the cross-entropy is about 6, the penalty 0..1). Measured at K=4 (3 seeds): 1.0
    # makes the interests orthogonal (cosine 0.74 -> 0.02) at no cost in accuracy, but one
    # interest still supplies 96% of the merged list: the others are parked off the catalogue
    interest_similarity: float = setting(0.0, before=0.0)
    # λ_bal: adds λ · (1 - normalised mutual information between an item the model ranks high
    # and the interest that supplies it), 0 when each item has one owner and the owners share
    # the list evenly, 1 when one interest supplies it all or all interests are the same; 0..1.
    # Measured at K=4 (3 seeds): 0.3 barely moves the figures; 0.5-1.0 splits the merged list
    # (busiest interest 0.93 -> 0.58-0.48, cosine 0.24-0.18) but costs 0.05-0.07 HR@50
    interest_balance: float = setting(0.0, before=0.0)
    # REMI's interest-aware hard negatives (Xie et al. 2023, IHN): each negative weighted by
    # exp(β · its logit) / the mean weight; 0 = plain softmax; 0..1 on our temperature-scaled
    # logits (REMI's 0.1..10 are on raw inner products, about 10x smaller than ours)
    hard_negative_beta: float = setting(0.0, before=0.0)

    def checks(self) -> dict[str, bool]:
        return {"temperature": self.temperature > 0, "neg_ratio": self.neg_ratio >= 1,
                "shared_negatives": self.shared_negatives >= 0,
                "loss": self.loss in ("sampled_softmax", "listwise"),
                "sample_method": self.sample_method in ("uniform", "popularity"),
                "interest_similarity": self.interest_similarity >= 0,
                "interest_balance": self.interest_balance >= 0,
                "hard_negative_beta": self.hard_negative_beta >= 0}


@dataclass
class TrainingSettings(_Group):
    epochs: int = 30  # upper bound; early stopping usually ends sooner
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-6
    patience: int = 2  # epochs without a better validation HR@50 before stopping
    seed: int = 0  # parameter init, routing logits, negatives, batch order
    device: str = setting("auto", changes_results=False)  # "auto", "cpu" or "cuda"

    def checks(self) -> dict[str, bool]:
        return {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1}


@dataclass
class EvaluationSettings(_Group):
    # the protocol the training split follows (mind_core.protocols): "leave_last_out" (next
    # movie; the headline) or "future" (the last 20% of a user's ratings, as a set)
    protocol: str = setting("leave_last_out", before="leave_last_out")

    def checks(self) -> dict[str, bool]:
        return {"protocol": self.protocol in ("leave_last_out", "future")}


GROUPS = (Architecture, LossSettings, TrainingSettings, EvaluationSettings)
# A protocol whose split changed after bundles were written under it: the revision joins the
# identity, so a model trained on the new split never takes an older model's name. "future"
# 2: a validation set instead of one validation rating (mind_core.protocols.future).
SPLIT_REVISIONS = {"future": 2}


@dataclass
class MINDConfig(EvaluationSettings, TrainingSettings, LossSettings, Architecture):
    """Every setting of a run, flat (fields in the order of ``GROUPS``)."""

    def resolve(self) -> None:
        for group in GROUPS:
            group.resolve(self)

    def checks(self) -> dict[str, bool]:
        return {k: ok for group in GROUPS for k, ok in group.checks(self).items()}

    def group(self, cls: type) -> _Group:
        """This config's fields of one group, e.g. ``config.group(Architecture)``."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mlp_hidden"] = list(self.mlp_hidden)
        return d

    def identity(self) -> dict:
        """What names a trained model (its bundle folder's hash): every field that changes
        what is learned, less a later field while it holds the value earlier models had, so
        adding a field never renames (and so never retrains) the models already built."""
        d, later = self.to_dict(), self.later_fields()
        out = {f.name: d[f.name] for f in fields(self)
               if f.metadata.get("changes_results", True)
               and not (f.name in later and d[f.name] == later[f.name])}
        if self.protocol in SPLIT_REVISIONS:
            out["split_revision"] = SPLIT_REVISIONS[self.protocol]
        return out

    @classmethod
    def later_fields(cls) -> dict[str, object]:
        """Fields added after the first bundles, with the value older models had."""
        return {f.name: f.metadata["before"] for f in fields(cls)
                if f.metadata.get("before", _ALWAYS) is not _ALWAYS}

    @classmethod
    def from_dict(cls, d: dict) -> MINDConfig:
        """A config from ``to_dict()`` output. A field added later that ``d`` lacks takes the
        value every model written before it had, not today's default."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"MINDConfig: unknown field(s) {sorted(unknown)}")
        return cls(**{**cls.later_fields(), **d})


LATER_FIELDS = MINDConfig.later_fields()

# The paper's model, without the two extensions that are on by default.
PAPER_FAITHFUL = {"recency": False, "candidate_attention": False}


# --- field types, for the CLI, the sweep form and config.json checks --------------------------

@dataclass(frozen=True)
class FieldKind:
    """What values a field takes: ``scalar`` (bool, int, float or str), possibly ``None``
    (``optional``), or a tuple of scalars (``many``)."""
    scalar: type
    optional: bool = False
    many: bool = False

    def parse(self, text: str):
        """A command-line or form value, typed; ``ValueError`` names what was expected."""
        if self.optional and text.lower() in ("none", "null", ""):
            return None
        if self.scalar is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"expected true or false, got {text!r}")
            return text.lower() in ("true", "1", "yes")
        try:
            return self.scalar(text)
        except ValueError:
            expected = {int: "an integer", float: "a number"}.get(self.scalar, "a string")
            raise ValueError(f"expected {expected}, got {text!r}") from None

    def accepts(self, value) -> bool:
        """Whether a JSON value has this kind (lists stand for tuples)."""
        if value is None:
            return self.optional
        if self.many:
            return isinstance(value, list) and all(self._scalar_ok(v) for v in value)
        return self._scalar_ok(value)

    def _scalar_ok(self, v) -> bool:
        if self.scalar is float:
            return type(v) in (int, float)
        return type(v) is self.scalar

    def describe(self) -> str:
        one, many = {bool: ("true or false", "booleans"), int: ("an integer", "integers"),
                     float: ("a number", "numbers"), str: ("a string", "strings")}[self.scalar]
        base = f"a list of {many}" if self.many else one
        return f"null or {base}" if self.optional else base


def field_kind(cls: type, name: str) -> FieldKind:
    """The :class:`FieldKind` of a dataclass field, from its type annotation. An annotation it
    does not understand raises ``TypeError``: a new field must never silently become a string."""
    hint = typing.get_type_hints(cls)[name]
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}.{name}: cannot parse a {hint} field")
        hint = args[0]
    many = False
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{cls.__name__}.{name}: cannot parse a {hint} field")
        hint, many = args[0], True
    if hint not in (bool, int, float, str):
        raise TypeError(f"{cls.__name__}.{name}: cannot parse a {hint} field")
    return FieldKind(hint, optional, many)


__all__ = ["MINDConfig", "Architecture", "LossSettings", "TrainingSettings",
           "EvaluationSettings", "GROUPS", "LATER_FIELDS", "PAPER_FAITHFUL", "FieldKind",
           "field_kind", "setting"]
