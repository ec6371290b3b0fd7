"""The lesson in words: sentences built from measured figures only (a sweep's summary, a
user's tastes), so a claim is never shown without the figure that supports it, and a claim the
figures contradict is not shown at all."""

from __future__ import annotations

from mind_core.evaluation.verdict import (
    DIFFERS,
    ONE_SEED,
    VERDICT_WORDS,
    interval_text,
    what_would_decide,
)

TASTE_FIGURES = (
    "Mean ± sd over seeds. **taste_recall**: share of a user's true tastes that some "
    "interest's own top 10 is mostly (≥ 60%) made of, i.e. routing found the taste. "
    "**taste_coverage@50**: share of a user's tastes with at least 3 movies in the merged top "
    "50, i.e. the merge kept it. Recall@50: share of the user's later ratings in the merged "
    "top 50.")


def _pair(summary: dict) -> dict | None:
    """The comparison of the smallest against the largest value of a sweep."""
    values = summary.get("values") or []
    if len(values) < 2:
        return None
    return next((c for c in summary["comparisons"]
                 if c["a"] == values[0] and c["b"] == values[-1]), None)


def _head(a: str, b: str, result: dict) -> str:
    return f"**{a} vs {b}: {VERDICT_WORDS[result['verdict']]}.**"


def lists_verdict(c: dict, n: int) -> str:
    """One comparison of mind_core.evaluation.overlap.versus_floor (the lists of two K values
    against two seeds of one), in words."""
    a, b = f"K={c['a']}", f"K={c['b']}"
    if c["between"] is None or c["floor"] is None:
        return f"{a} vs {b}: needs two seeds to compare."
    shared = (f"Their merged top {n} share {c['between']:.2f} (Jaccard, models of different "
              f"seeds) while two seeds of one K share {c['floor']:.2f}")
    if c["verdict"] == ONE_SEED:
        return (f"{_head(a, b, c)} {shared}; with one seed pair there is no spread: "
                f"{what_would_decide(c)}.")
    gap = f"seeds' overlap minus theirs {interval_text(c)}"
    if c["verdict"] == DIFFERS:
        return f"{_head(a, b, c)} {shared}: {gap}."
    return (f"{_head(a, b, c)} {shared}: {gap}; {what_would_decide(c)}. Retraining {a} with "
            f"another seed changes its list about as much as switching to {b} does.")


def k_verdict(summary: dict, metric: str) -> str:
    """The smallest K against every other on ``metric``, each by Welch's t over seeds: one
    markdown line per pair."""
    values = summary.get("values") or []
    pairs = [c for c in summary["comparisons"] if values and c["a"] == values[0]
             and metric in c.get("metrics", {})]
    if not pairs:
        return "Train a second K value to compare."
    return "\n".join(f"- {_one_verdict(summary, c, metric)}" for c in pairs)


def _one_verdict(summary: dict, c: dict, metric: str) -> str:
    g = c["metrics"][metric]
    a, b = f"K={c['a']}", f"K={c['b']}"
    rows = {r["value"]: r["metrics"][metric] for r in summary["results"]}
    moved = (f"{metric} {rows[c['a']]['mean']:.3f} → {rows[c['b']]['mean']:.3f} "
             f"({g['relative']:+.0%})" if g["relative"] is not None else metric)
    if g["verdict"] == DIFFERS:
        return f"{_head(a, b, g)} {moved}: {interval_text(g)}."
    return f"{_head(a, b, g)} {moved}: {interval_text(g)}; {what_would_decide(g)}."


def playground_reading(summary: dict) -> str:
    """Why the extra interests paid here or did not, from the taste figures."""
    rows = summary["results"]
    if len(rows) < 2 or "taste_recall" not in rows[0]["metrics"]:
        return ""
    one, many = rows[0], rows[-1]

    def m(row, name):
        return row["metrics"][name]["mean"]

    found = (f"K={one['value']} finds {m(one, 'taste_recall'):.0%} of a user's tastes, "
             f"K={many['value']} {m(many, 'taste_recall'):.0%}")
    kept = (f"the merged top 50 keeps {m(one, 'taste_coverage@50'):.0%} against "
            f"{m(many, 'taste_coverage@50'):.0%}")
    gain = m(many, "Recall@50") - m(one, "Recall@50")
    if m(many, "taste_recall") > m(one, "taste_recall") and \
            m(many, "taste_coverage@50") > m(one, "taste_coverage@50") and gain > 0:
        return (f"**Where the gain comes from.** {found}; {kept}. One vector sits among the "
                "tastes it saw most; several interests each hold one taste, and the merge "
                f"gives each a share of the list, so the later ratings of every taste get hit "
                f"(Recall@50 {gain:+.3f}).")
    if m(many, "taste_recall") > m(one, "taste_recall"):
        return (f"**Found but not kept.** {found}, but {kept}: the merge let one interest "
                "fill the list, so the tastes the others found are not recommended.")
    return (f"**No taste to gain.** {found}: with these knobs one vector already covers "
            "what the users rate (few tastes, or tastes mixed too often to separate).")


CEILING_NOTE = (" Dotted: a ranking that knows every user's tastes from the truth file, about "
                "the most any model could reach on this data.")


def ceiling_reading(summary: dict, metric: str) -> str:
    """How close each K comes to the ranking that knows the users' tastes (a taste mixture's
    ceiling, mind_core.evaluation.ceiling): how much there was to win at all."""
    ceiling = (summary.get("ceiling") or {}).get(metric)
    rows = [r for r in summary["results"] if metric in r["metrics"]]
    if not ceiling or not rows:
        return ""
    shares = ", ".join(f"K={r['value']} {r['metrics'][metric]['mean'] / ceiling:.0%}"
                       for r in rows)
    text = (f"**How much there was to win.** A ranking that knows every user's tastes (read "
            f"from the truth file: each taste's movies by popularity, weighted by where the "
            f"user's last rating leaves them) reaches {metric} {ceiling:.3f}, the dotted line; "
            f"the models get {shares} of it.")
    if len(rows) >= 2:
        first = rows[0]["metrics"][metric]["mean"]
        text += (f" Even that ranking beats K={rows[0]['value']} by {ceiling / first - 1:+.0%}:"
                 " about the most any model could gain over it on these knobs.")
    return text


def user_tastes_text(view: dict) -> str:
    """One user's true tastes, each with the interest that found it or a cross."""
    names = view["clusters"]
    lines = [f"**True tastes: {', '.join(names[c] for c in view['tastes'])}**", ""]
    for c in view["tastes"]:
        by = [i for i in view["interests"] if i["found"] and i["cluster"] == c]
        if by:
            who = ", ".join(f"interest {i['k'] + 1} ({i['share']:.0%} of its top 10)"
                            for i in by)
            lines.append(f"- ✓ {names[c]}: found by {who}")
        else:
            lines.append(f"- ✗ {names[c]}: no interest's top 10 is mostly {names[c]}")
    extra = [i for i in view["interests"] if i["active"] and not i["found"]]
    for i in extra:
        what = names[i["cluster"]] if i["cluster"] >= 0 else "nothing"
        lines.append(f"- interest {i['k'] + 1}: mostly {what} ({i['share']:.0%}), not one of "
                     "the user's tastes" if i["cluster"] not in view["tastes"] else
                     f"- interest {i['k'] + 1}: {what} at {i['share']:.0%}, under the 60% "
                     "that counts as finding it")
    dup = len([i for i in view["interests"] if i["found"]]) - (len(view["tastes"])
                                                               - len(view["missed"]))
    if dup > 0:
        lines.append(f"\n{dup} interest(s) repeat a taste another interest already holds.")
    return "\n".join(lines)


def k_lesson(summary: dict, n_items: int, metric: str) -> str:
    """Why more interests paid on this dataset or did not, from the K sweep's own figures;
    each reason is given only where the figure beside it supports it."""
    c = _pair(summary)
    rows = {r["value"]: r["metrics"] for r in summary["results"]}
    if c is None or metric not in c.get("metrics", {}):
        return ""
    g = c["metrics"][metric]
    one, many = rows[c["a"]], rows[c["b"]]
    if g["verdict"] == DIFFERS and g["gap"] > 0:
        if "taste_recall" not in one:
            return ""  # a gain without the truth to explain it: the verdict says enough
        return (f"**Several interests pay here.** K={c['b']} finds "
                f"{many['taste_recall']['mean']:.0%} of a user's known tastes against "
                f"{one['taste_recall']['mean']:.0%} for one vector, and its merged top 50 keeps "
                f"{many['taste_coverage@50']['mean']:.0%} of them against "
                f"{one['taste_coverage@50']['mean']:.0%}: every taste's later ratings get hit.")
    reasons = []
    diversity = one.get("Diversity@50", {}).get("mean")
    if diversity is not None and diversity >= 0.5:
        reasons.append(f"a top 50 is {50 / max(1, n_items - 1):.0%} of this catalogue, yet "
                       f"one vector's list already mixes genres (Diversity@50 of K={c['a']}: "
                       f"{diversity:.2f})")
    if summary.get("protocol") == "leave_last_out":
        reasons.append("the held-out movie is the next one rated, which follows the user's "
                       "latest taste: the best-scored interest holds it, and a slot given to "
                       "another taste is a slot it is not in")
    if "taste_recall" in one and many["taste_recall"]["mean"] > one["taste_recall"]["mean"]:
        reasons.append(f"the interests do find the tastes (taste recall "
                       f"{many['taste_recall']['mean']:.0%} against "
                       f"{one['taste_recall']['mean']:.0%}): the targets are what do not need "
                       "them")
    if not reasons:
        return ""
    # "does not pay" only where the test says so; an open verdict is no gain *shown* yet
    head = (f"Why K={c['b']} does worse here" if g["verdict"] == DIFFERS
            else f"Why K={c['b']} shows no clear gain here")
    pointer = ("" if "taste_recall" in one else " The Playground and the `tastes` dataset "
               "under the future protocol show where several interests pay.")
    return f"**{head}:** " + "; ".join(reasons) + "." + pointer


def mean_sd(stat: dict, digits: int = 4) -> str:
    """``mean ± sd`` over seeds; one seed has no spread, so it says so instead of "± 0"."""
    if stat.get("n", 0) < 2 or stat.get("sd") is None:
        return f"{stat['mean']:.{digits}f} (1 seed)"
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"
