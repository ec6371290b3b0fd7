"""MIND's parts, its training loop and its multi-interest behaviour."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mind_core.config import LATER_FIELDS, PAPER_FAITHFUL, MINDConfig
from mind_core.data.tables import make_dataset
from mind_core.evaluation.ranking import evaluate_model, interest_scores
from mind_core.features.encoding import encode
from mind_core.features.split import build_split
from mind_core.model.autograd import AttendedScore, SquashedSum
from mind_core.model.mind import (
    build_model,
    candidate_aware_scores,
    dynamic_interest_number,
    equalize_norms,
    label_aware_attention,
    squash,
)
from mind_core.training.losses import full_softmax_loss, listwise_loss, sampled_softmax_loss
from mind_core.training.penalties import (
    distinctness_penalty,
    interest_balance_penalty,
    interest_similarity_penalty,
)
from mind_core.training.trainer import fit


@pytest.fixture(scope="module")
def small(ml100k_encoded):
    config = MINDConfig(interest_num=4, embed_dim=16, max_length=10, mlp_hidden=(32,))
    return config, build_model(config, ml100k_encoded).eval(), ml100k_encoded


def _history(items, length):
    h = torch.zeros(length, dtype=torch.long)
    h[length - len(items):] = torch.as_tensor(items)
    return h


def test_shapes_and_masks(small):
    config, model, enc = small
    history = torch.stack([_history(range(1, 11), 10), _history([5, 6, 7], 10),
                           _history([], 10)])
    features = torch.as_tensor(enc.user_features[:3])
    interests, active = model.interests(history, features)
    assert interests.shape == (3, 4, 16) and active.shape == (3, 4)
    assert active.dtype == torch.bool
    assert active.sum(1).tolist() == [3, 1, 1]  # floor(log2 n): 10 -> 3, 3 -> 1, 0 -> 1
    assert torch.all(interests[~active] == 0)  # inactive interests are never served
    assert model.item_vectors().shape == (enc.n_items, 16)
    assert torch.all(model.item_vectors()[0] == 0)  # padding item


def test_squash_norm_below_one():
    z = torch.randn(64, 4, 16) * torch.logspace(-3, 3, 64).view(64, 1, 1)
    norms = squash(z).norm(dim=-1)
    assert torch.all(norms <= 1.0)
    assert torch.all(norms[z.norm(dim=-1) < 100] < 1.0)  # float32 rounds to 1 far beyond
    # direction is kept
    cos = torch.nn.functional.cosine_similarity(squash(z), z, dim=-1)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-4)


def test_padding_does_not_change_interests(small):
    config, model, enc = small
    features = torch.as_tensor(enc.user_features[:1])
    full = _history([3, 9, 27, 81], 10).unsqueeze(0)
    short = full[:, -4:]  # the same behaviours with no padding at all
    a, _ = model.interests(full, features)
    b, _ = model.interests(short, features)
    torch.testing.assert_close(a, b)
    with torch.no_grad():  # whatever the padding row's parameters hold, nothing changes
        model.items.ids.weight[0].normal_()
    c, _ = model.interests(full, features)
    torch.testing.assert_close(a, c)
    weights = model.explain(full[0], features[0])
    assert weights.shape == (4, 10)
    assert torch.all(weights[:, :6] == 0)  # padded positions get zero routing weight
    assert torch.allclose(weights[:, 6:].sum(0), torch.ones(4))  # each behaviour splits 1


def test_routing_is_fixed_per_model(small):
    config, model, enc = small
    history = torch.stack([_history(range(1, 11), 10), _history(range(30, 40), 10)])
    features = torch.as_tensor(enc.user_features[:2])
    a, _ = model.interests(history, features)
    b, _ = model.interests(history, features)
    assert torch.equal(a, b)
    twin = build_model(config, enc).eval()  # same seed -> same model
    c, _ = twin.interests(history, features)
    assert torch.equal(a, c)
    other = build_model(MINDConfig(**{**config.to_dict(), "seed": 1}), enc).eval()
    d, _ = other.interests(history, features)
    assert not torch.allclose(a, d)


def test_dynamic_interest_number():
    n = torch.tensor([0, 1, 2, 3, 4, 7, 8, 15, 16, 1000])
    assert dynamic_interest_number(n, 4).tolist() == [1, 1, 1, 1, 2, 2, 3, 3, 4, 4]
    assert dynamic_interest_number(n, 2).max().item() == 2


def test_dynamic_k_off_keeps_every_interest(ml100k_encoded):
    config = MINDConfig(interest_num=4, embed_dim=8, max_length=10, dynamic_k=False)
    model = build_model(config, ml100k_encoded).eval()
    _, active = model.interests(_history([1, 2], 10).unsqueeze(0),
                                torch.as_tensor(ml100k_encoded.user_features[:1]))
    assert active.all()


def test_label_aware_attention_tends_to_hard_max():
    torch.manual_seed(0)
    interests = torch.randn(32, 4, 8)
    target = torch.randn(32, 8)
    active = torch.ones(32, 4, dtype=torch.bool)
    dots = torch.einsum("bkd,bd->bk", interests, target)
    hard = interests[torch.arange(32), dots.argmax(1)]
    errors = [(label_aware_attention(interests, target, active, p) - hard).abs().max().item()
              for p in (0.0, 1.0, 10.0, 1e6)]
    assert errors[-1] < 1e-4
    assert errors == sorted(errors, reverse=True)
    torch.testing.assert_close(label_aware_attention(interests, target, active, 0.0),
                               interests.mean(1))


def test_hard_max_picks_the_highest_dot_product_not_the_largest_magnitude():
    target = torch.tensor([[1.0, 0.0]])
    interests = torch.tensor([[[-3.0, 0.0], [-0.5, 0.0], [-2.0, 1.0], [-1.0, 5.0]]])  # dots < 0
    active = torch.ones(1, 4, dtype=torch.bool)
    out = label_aware_attention(interests, target, active, 1e4)
    torch.testing.assert_close(out, interests[:, 1])
    active[0, 1] = False  # an inactive interest is never attended to, even when it fits best
    out = label_aware_attention(interests, target, active, 1e4)
    torch.testing.assert_close(out, interests[:, 3])


def test_nan_loss_raises():
    nan = torch.full((2,), math.nan)
    labels = torch.tensor([1, 2])
    with pytest.raises(FloatingPointError, match="diverged"):
        full_softmax_loss(torch.full((2, 10), math.nan), labels, 0.1)
    with pytest.raises(FloatingPointError):
        listwise_loss(nan, torch.zeros(2, 3), 0.1)


@pytest.mark.parametrize("penalty", [{}, {"interest_similarity": 1.0},
                                     {"interest_balance": 1.0, "hard_negative_beta": 0.5}])
def test_nan_during_fit_raises(ml100k_encoded, penalty):
    config = MINDConfig(embed_dim=8, max_length=5, epochs=1, learning_rate=1e30,
                        temperature=1e-6, batch_size=4096, **penalty)
    split = build_split(ml100k_encoded, 5)
    with pytest.raises(FloatingPointError):
        fit(config, ml100k_encoded, split)


def test_sampled_softmax_log_q_and_accidental_hits():
    torch.manual_seed(0)
    user, table = torch.randn(3, 4), torch.randn(6, 4)
    labels = torch.tensor([1, 2, 3])
    negatives = torch.tensor([1, 4, 5])  # item 1 is row 0's positive: masked for that row
    log_q = torch.log(torch.tensor([0.0, 0.1, 0.2, 0.3, 0.2, 0.2]).clamp(min=1e-9))
    pos = (user * table[labels]).sum(-1)
    loss = sampled_softmax_loss(pos, user @ table[negatives].T, labels, negatives, 1.0, log_q)
    logits = (user @ table.T) - log_q
    expected = []
    for b in range(3):
        cands = [labels[b].item()] + [n for n in negatives.tolist() if n != labels[b].item()]
        expected.append(-torch.log_softmax(logits[b, cands], 0)[0])
    torch.testing.assert_close(loss, torch.stack(expected).mean())


@pytest.mark.parametrize("beta", [0.3, 1.0])
def test_hard_negatives_reweight_the_softmax_denominator(beta):
    """REMI's IHN: -log(e^x+ / (e^x+ + Σ_j w_j e^x_j)), w_j = e^(β x_j) / mean e^(β x); β = 0
    is the plain cross-entropy, bit for bit."""
    torch.manual_seed(3)
    scores, labels = torch.randn(4, 9, dtype=torch.float64), torch.tensor([1, 5, 8, 2])
    assert torch.equal(full_softmax_loss(scores.clone(), labels, 0.5),
                       full_softmax_loss(scores.clone(), labels, 0.5, hard_negative_beta=0.0))
    x = scores / 0.5
    want = []
    for b in range(4):
        neg = [j for j in range(1, 9) if j != labels[b]]  # column 0 (padding) never counts
        w = torch.exp(beta * x[b, neg]) / torch.exp(beta * x[b, neg]).mean()
        pos = torch.exp(x[b, labels[b]])
        want.append(-torch.log(pos / (pos + (w * torch.exp(x[b, neg])).sum())))
    got = full_softmax_loss(scores.clone(), labels, 0.5, hard_negative_beta=beta)
    torch.testing.assert_close(got, torch.stack(want).mean())
    assert got > full_softmax_loss(scores.clone(), labels, 0.5)  # hard negatives weigh more
    pos, neg = scores[:, 0], scores[:, 1:]
    plain = listwise_loss(pos, neg, 0.5)
    assert torch.equal(plain, listwise_loss(pos, neg, 0.5, hard_negative_beta=0.0))
    assert listwise_loss(pos, neg, 0.5, hard_negative_beta=beta) > plain


def test_interest_similarity_penalty():
    """Mean squared cosine over a user's active pairs; users with one interest do not count."""
    interests = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]],  # orthogonal: 0
                              [[1.0, 0.0], [-3.0, 0.0], [1.0, 1.0]],  # 1, 1/2, 1/2 -> 2/3
                              [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], requires_grad=True)
    active = torch.tensor([[True, True, False], [True, True, True], [True, False, False]])
    penalty = interest_similarity_penalty(interests * active.unsqueeze(-1), active)
    torch.testing.assert_close(penalty, torch.tensor((0.0 + 2 / 3) / 2))
    penalty.backward()
    assert torch.isfinite(interests.grad).all()  # zero (inactive) interests included
    assert interest_similarity_penalty(interests[2:], active[2:]).item() == 0.0


def test_interest_balance_penalty():
    """1 - I(item; interest) / log K': 0 when two interests each own half of the likely items,
    1 when one owns them all, and 1 (not 0) when the interests are the same."""
    items = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.1], [0.1, 5.0]])
    scores = torch.zeros(1, 4)  # the four candidates equally likely
    active = torch.ones(1, 2, dtype=torch.bool)

    def penalty(v, act=active):
        return interest_balance_penalty(torch.tensor([v]), act, items, scores, 0.01).item()

    assert penalty([[1.0, 0.0], [0.0, 1.0]]) == pytest.approx(0.0, abs=1e-4)
    assert penalty([[1.0, 1.0], [1.0, 1.0]]) == pytest.approx(1.0, abs=1e-6)
    assert penalty([[1.0, 1.0], [-1.0, -1.0]]) == pytest.approx(1.0, abs=1e-4)
    assert penalty([[1.0, 0.0], [0.0, 1.0]], torch.tensor([[True, False]])) == 0.0  # K' = 1
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]], requires_grad=True)
    out = interest_balance_penalty(v, torch.tensor([[True, True, False]]), items, scores, 0.1)
    out.backward()
    assert torch.isfinite(v.grad).all()
    config = MINDConfig(interest_balance=0.5, interest_similarity=0.25)
    same = torch.tensor([[[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]])
    both = distinctness_penalty(config, same, torch.tensor([[True, True, False]]), items, scores)
    assert both.item() == pytest.approx(0.5 * 1.0 + 0.25 * 1.0, abs=1e-5)
    assert distinctness_penalty(MINDConfig(), v, torch.ones(1, 3, dtype=torch.bool), items,
                                scores).item() == 0.0


def test_equal_norms_rescales_a_users_interests_to_one_length(small, ml100k_encoded):
    v = torch.tensor([[[3.0, 4.0], [1.0, 0.0], [7.0, 7.0]]])
    out = equalize_norms(v, torch.tensor([[True, True, False]]))
    torch.testing.assert_close(out, torch.tensor([[[1.8, 2.4], [3.0, 0.0], [0.0, 0.0]]]))
    config = MINDConfig(**{**small[0].to_dict(), "equal_norms": True})
    model = build_model(config, ml100k_encoded).eval()
    history = torch.stack([_history(range(1, 11), 10), _history([5, 6, 7], 10)])
    interests, active = model.interests(history, torch.as_tensor(ml100k_encoded.user_features[:2]))
    lengths = interests.norm(dim=-1)[0, active[0]]
    torch.testing.assert_close(lengths, lengths.mean().expand_as(lengths))
    assert torch.all(interests[~active] == 0)


def test_later_fields_keep_the_names_of_models_built_before_them():
    """A field added later is left out of a model's identity (its bundle name) while it holds
    the value earlier models had, and a config.json written before it reads as that value."""
    assert not set(LATER_FIELDS) & set(MINDConfig(**LATER_FIELDS).identity())
    assert MINDConfig(interest_similarity=0.1).identity()["interest_similarity"] == 0.1
    old = MINDConfig().to_dict()
    for k in LATER_FIELDS:
        old.pop(k)
    restored = MINDConfig.from_dict(old)
    assert all(getattr(restored, k) == v for k, v in LATER_FIELDS.items())


def test_candidate_attention_scores_like_serving():
    torch.manual_seed(0)
    interests, items = torch.randn(5, 3, 8), torch.randn(20, 8)
    active = torch.tensor([[True, True, False]] * 5)
    scores = candidate_aware_scores(interests, items, active, 1e6)
    torch.testing.assert_close(scores, interest_scores(interests, active, items))


@pytest.mark.parametrize("some_inactive", [False, True])
@pytest.mark.parametrize("pow_p", [0.0, 2.0, 7.5])
def test_candidate_attention_gradient_matches_autograd(pow_p, some_inactive):
    """The hand-written backward equals autograd through the plain softmax formula."""
    torch.manual_seed(1)
    interests = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    items = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    active = torch.ones(4, 3, dtype=torch.bool)
    if some_inactive:
        active[1:, 2] = False
        active[3, 1] = False
    keep = active.unsqueeze(-1)  # as the model serves them: inactive interests are zero

    def reference(x, e):
        dots = torch.einsum("bkd,cd->bkc", x, e)
        w = torch.softmax((pow_p * dots).masked_fill(~active.unsqueeze(-1), -math.inf), dim=1)
        return (w * dots).sum(1)

    upstream = torch.randn(4, 7, dtype=torch.float64)
    got = torch.autograd.grad((candidate_aware_scores(interests * keep, items, active, pow_p)
                               * upstream).sum(), (interests, items))
    want = torch.autograd.grad((reference(interests * keep, items) * upstream).sum(),
                               (interests, items))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)
    assert torch.autograd.gradcheck(
        lambda x, e: candidate_aware_scores(x * keep, e, active, pow_p),
        (interests, items))


def test_routing_last_iteration_gradient_matches_autograd():
    """The written-out gradient of squash(w û) equals autograd's, for both inputs, with an
    all-zero row of w (an inactive interest: a zero capsule) among them."""
    torch.manual_seed(2)
    w = torch.rand(3, 4, 6, dtype=torch.float64)
    w[:, 3] = 0.0
    w.requires_grad_(True)
    u_hat = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(3, 4, 5, dtype=torch.float64)
    got = torch.autograd.grad((SquashedSum.apply(w, u_hat) * upstream).sum(), (w, u_hat))
    want = torch.autograd.grad((squash(torch.bmm(w, u_hat)) * upstream).sum(), (w, u_hat))
    for g, ref in zip(got, want, strict=True):
        torch.testing.assert_close(g, ref)
    torch.testing.assert_close(SquashedSum.apply(w, u_hat), squash(torch.bmm(w, u_hat)))
    assert torch.autograd.gradcheck(SquashedSum.apply, (w, u_hat))


def test_routing_logit_updates_are_not_backpropagated(ml100k_encoded):
    """Gradients reach S and the recency weights only through the last iteration: with
    routing_iters=3 they equal those of one weighted sum whose softmax is held fixed."""
    config = MINDConfig(embed_dim=8, max_length=10, mlp_hidden=(8,), recency=True)
    model = build_model(config, ml100k_encoded)
    with torch.no_grad():
        model.recency_logit.normal_()  # away from the initial all-equal weights
    history = torch.tensor([[0, 0, 3, 9, 4, 7, 1, 2, 5, 6], [0, 0, 0, 0, 0, 0, 8, 3, 2, 11]])
    active = torch.tensor([[True, True, True, False], [True, True, False, False]])
    params = (model.routing.S.weight, model.recency_logit)

    u_hat, mask, weight = model.routing_inputs(history, model.items.table())
    capsules, w = model.routing(u_hat, mask, active, weight)
    got = torch.autograd.grad(capsules.square().sum(), params)

    u_hat, mask, weight = model.routing_inputs(history, model.items.table())
    keep = mask.unsqueeze(1) * weight  # (B, 1, L)
    softmax = torch.where(keep > 0, w / keep, 0.0).detach()  # the last iteration's softmax
    fixed = squash(torch.bmm(softmax * keep, u_hat))
    want = torch.autograd.grad(fixed.square().sum(), params)
    for g, ref in zip(got, want, strict=True):
        assert g.abs().sum() > 0
        torch.testing.assert_close(g, ref)


def test_one_interest_skips_the_routing_iterations_and_loses_nothing(ml100k_encoded):
    """With K=1 the softmax over interests is 1 whatever the logits, so the model skips the
    iterations: its coupling weights equal, bit for bit, those of every iteration of Algorithm 1
    written out (the capsule is the same op on the same weights)."""
    config = MINDConfig(embed_dim=8, max_length=10, mlp_hidden=(8,), interest_num=1,
                        routing_iters=5)
    model = build_model(config, ml100k_encoded)
    history = torch.tensor([[0, 0, 3, 9, 4, 7, 1, 2, 5, 6], [0, 0, 0, 0, 0, 0, 8, 3, 2, 11]])
    u_hat, mask, weight = model.routing_inputs(history, model.items.table())
    u_hat = u_hat.detach()
    _, w = model.routing(u_hat, mask, torch.ones(2, 1, dtype=torch.bool), weight)

    keep = mask.unsqueeze(1).to(u_hat.dtype) * weight  # (B, 1, L)
    logits = model.routing.init_logits.expand(2, 1, 10)
    for _ in range(config.routing_iters - 1):
        capsules = squash(torch.bmm(torch.softmax(logits, dim=1) * keep, u_hat))
        logits = logits + torch.bmm(capsules, u_hat.transpose(1, 2))
    assert not torch.equal(logits, model.routing.init_logits.expand(2, 1, 10))  # they moved
    assert torch.equal(w, torch.softmax(logits, dim=1) * keep)


@pytest.mark.parametrize("pow_p", [0.0, 2.0, 10.0])
def test_one_interest_scores_candidates_by_the_dot_product_as_the_attention_would(pow_p):
    """With K=1 the attention's weight is exactly 1, so the candidate scores skip it: the
    scores and the gradients they send back equal, bit for bit, the attention's own."""
    g = torch.Generator().manual_seed(0)
    interests = torch.randn(33, 1, 16, generator=g, requires_grad=True)
    items = torch.randn(50, 16, generator=g, requires_grad=True)
    upstream = torch.randn(33, 50, generator=g)
    active = torch.ones(33, 1, dtype=torch.bool)
    fast = candidate_aware_scores(interests, items, active, pow_p)
    fast_grads = torch.autograd.grad((fast * upstream).sum(), (interests, items))
    full = AttendedScore.apply(torch.einsum("bkd,cd->bkc", interests, items), None, pow_p)
    full_grads = torch.autograd.grad((full * upstream).sum(), (interests, items))
    assert torch.equal(fast, full)
    assert all(torch.equal(a, b) for a, b in zip(fast_grads, full_grads, strict=True))


def test_mlp_hidden_defaults_to_twice_the_embedding():
    assert MINDConfig().mlp_hidden == (128,)
    assert MINDConfig(embed_dim=16).mlp_hidden == (32,)
    assert MINDConfig(embed_dim=16, mlp_hidden=[64, 32]).mlp_hidden == (64, 32)
    assert MINDConfig.from_dict(MINDConfig(embed_dim=16).to_dict()).mlp_hidden == (32,)
    with pytest.raises(ValueError, match="mlp_hidden"):
        MINDConfig(mlp_hidden=(0,))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="temperature"):
        MINDConfig(temperature=0)
    with pytest.raises(ValueError, match="unknown field"):
        MINDConfig.from_dict({"interest_numm": 3})


def test_same_seed_same_model_at_one_and_two_threads():
    """Two threads twice, then one: the same weights bit for bit. Multithreaded scatter-adds
    are the nondeterminism the fit switches off; the softmax over interests was the one kernel
    whose values followed the thread count (on an odd batch, as the epoch's last often is)."""
    dataset, _ = _two_cluster_dataset()
    encoded = encode(dataset)
    split = build_split(encoded, 20)  # the windows longer than a vector register (16 floats)
    n = len(split.train_positions)
    batch = next(b for b in range(64, 128) if (n % b) % 2)  # an odd last batch
    config = MINDConfig(embed_dim=8, max_length=20, epochs=1, batch_size=batch,
                        mlp_hidden=(16,))
    threads = torch.get_num_threads()
    weights, figures = [], []
    try:
        for t in (2, 2, 1):
            torch.set_num_threads(t)
            model = fit(config, encoded, split).model
            weights.append(model.state_dict())
            figures.append(evaluate_model(model, encoded, split, "valid"))
    finally:
        torch.set_num_threads(threads)
    for w in weights[1:]:
        assert all(torch.equal(weights[0][k], w[k]) for k in weights[0])
    assert figures[0] == figures[1] == figures[2]


# --- multi-interest behaviour on data built for it -------------------------------------------

def _two_cluster_dataset(seed=0, n_users=300, n_clusters=16, cluster_size=12, length=24):
    """Each user mixes two of many disjoint item clusters, alternating at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, n_users + 1):
        a, b = rng.choice(n_clusters, size=2, replace=False)
        picks = rng.permutation(np.concatenate([
            a * cluster_size + rng.choice(cluster_size, length // 2, replace=False),
            b * cluster_size + rng.choice(cluster_size, length // 2, replace=False)]))
        rows += [(u, int(item) + 1, 1.0, t) for t, item in enumerate(picks)]
    inter = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    n_items = n_clusters * cluster_size
    items = pd.DataFrame({"title": [f"m{i}" for i in range(1, n_items + 1)],
                          "year": [None] * n_items, "genres": [[] for _ in range(n_items)]},
                         index=pd.Index(range(1, n_items + 1)))
    return make_dataset("clusters", inter, None, items), cluster_size


def test_two_interests_capture_two_clusters():
    ds, size = _two_cluster_dataset()
    enc = encode(ds)
    split = build_split(enc, 20)
    # The paper's model: the recency extension is meant for real sequences, and on this data,
    # whose order carries no signal, it pulls both interests towards the latest cluster.
    base = dict(embed_dim=6, max_length=20, epochs=25, patience=5, batch_size=256,
                learning_rate=1e-2, mlp_hidden=(32,), temperature=0.1, pow_p=5.0,
                **PAPER_FAITHFUL)
    k2 = fit(MINDConfig(**base, interest_num=2), enc, split).model
    k1 = fit(MINDConfig(**base, interest_num=1), enc, split).model
    m2, m1 = evaluate_model(k2, enc, split), evaluate_model(k1, enc, split)
    assert m2["HR@10"] > m1["HR@10"]

    cluster_of = (enc.item_ids - 1) // size  # raw ids are 1-based, clusters of `size`
    history = torch.as_tensor(split.test.history)
    features = torch.as_tensor(enc.user_features[split.test.users])
    with torch.no_grad():
        interests, active = k2.interests(history, features)
        items = k2.item_vectors()
    assert active.all()  # 20 behaviours -> floor(log2 20) >= 2
    pure, distinct = [], []
    for e in range(len(history)):
        per = []
        for k in range(2):
            scores = interest_scores(interests[e, k:k + 1].unsqueeze(0), active[e, k:k + 1]
                                     .unsqueeze(0), items)[0]
            scores[0] = -math.inf
            top = torch.topk(scores, 10).indices.numpy()
            clusters, counts = np.unique(cluster_of[top], return_counts=True)
            per.append((clusters[counts.argmax()], counts.max() / 10))
        pure += [per[0][1], per[1][1]]
        distinct.append(per[0][0] != per[1][0])
    assert np.mean(pure) > 0.7  # each interest retrieves mostly one cluster
    assert np.mean(distinct) > 0.7  # and the two interests cover different clusters
