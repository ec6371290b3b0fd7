"""MINDConfig by concern: the groups, a model's identity (its bundle name) kept from before the
regrouping, and field types read from annotations for the CLI, sweeps and config.json checks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from mind_core.artifacts.paths import model_name
from mind_core.cli import build_parser
from mind_core.config import (
    GROUPS,
    SPLIT_REVISIONS,
    Architecture,
    FieldKind,
    MINDConfig,
    TrainingSettings,
    field_kind,
    setting,
)

NAMES = Path(__file__).resolve().parents[1] / "artifacts" / "fixtures" / \
    "model_names_before_issue_15.json"


def _config(recorded: dict) -> MINDConfig:
    kw = dict(recorded)
    if "mlp_hidden" in kw:
        kw["mlp_hidden"] = tuple(kw["mlp_hidden"])
    return MINDConfig(**kw)


@pytest.mark.parametrize("case", json.loads(NAMES.read_text()), ids=lambda c: c["name"])
def test_names_are_those_main_gave_before_the_regrouping(case):
    """Names computed by the code before the config was split into groups (recorded once). A
    protocol whose split changed since (``SPLIT_REVISIONS``: the future set's validation set)
    names its models anew on purpose; the rest of their identity is unchanged."""
    config = _config(case["config"])
    if config.protocol not in SPLIT_REVISIONS:
        assert model_name(config) == case["name"]
        return
    assert model_name(config) != case["name"]
    identity = config.identity()
    assert identity.pop("split_revision") == SPLIT_REVISIONS[config.protocol]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    assert f"mind-k{config.interest_num}-{digest}" == case["name"]


def test_every_field_belongs_to_exactly_one_group():
    grouped = [f.name for group in GROUPS for f in fields(group)]
    assert len(grouped) == len(set(grouped))
    assert sorted(grouped) == sorted(f.name for f in fields(MINDConfig))
    arch = MINDConfig(interest_num=2, temperature=0.5).group(Architecture)
    assert isinstance(arch, Architecture) and arch.interest_num == 2
    assert not hasattr(arch, "temperature") and not hasattr(arch, "seed")


def test_invalid_values_name_every_bad_field_across_groups():
    with pytest.raises(ValueError, match=r"MINDConfig: invalid interest_num=0, temperature=0"):
        MINDConfig(interest_num=0, temperature=0)
    with pytest.raises(ValueError, match="TrainingSettings: invalid epochs=0"):
        TrainingSettings(epochs=0)


def test_a_field_that_does_not_change_results_is_declared_once():
    """Adding such a field is one declaration: the identity (and so every name) is unchanged."""

    @dataclass
    class WithLogging(MINDConfig):
        log_every: int = setting(50, changes_results=False)

    assert WithLogging(log_every=7).identity() == MINDConfig().identity()


def test_a_later_field_keeps_old_names_until_it_moves():
    @dataclass
    class WithNewKnob(MINDConfig):
        new_knob: float = setting(0.0, before=0.0)

    assert WithNewKnob().identity() == MINDConfig().identity()
    assert WithNewKnob(new_knob=0.5).identity()["new_knob"] == 0.5


@pytest.mark.parametrize("name, kind", [
    ("interest_num", FieldKind(int)), ("pow_p", FieldKind(float)),
    ("recency", FieldKind(bool)), ("loss", FieldKind(str)),
    ("mlp_hidden", FieldKind(int, optional=True, many=True))])
def test_field_kinds_come_from_annotations(name, kind):
    assert field_kind(MINDConfig, name) == kind


def test_an_optional_int_parses_as_an_int_not_a_string():
    @dataclass
    class Knobs:
        cap: int | None = None

    kind = field_kind(Knobs, "cap")
    assert kind == FieldKind(int, optional=True)
    assert kind.parse("12") == 12 and kind.parse("none") is None
    with pytest.raises(ValueError, match="expected an integer, got 'twelve'"):
        kind.parse("twelve")


@pytest.mark.parametrize("annotation", ["dict[str, int]", "int | str", "list[int]"])
def test_an_annotation_it_cannot_parse_is_refused_loudly(annotation):
    namespace: dict = {}
    exec(f"from dataclasses import dataclass\n@dataclass\nclass C:\n    x: {annotation} = None",
         namespace)
    with pytest.raises(TypeError, match="cannot parse"):
        field_kind(namespace["C"], "x")


def test_cli_options_are_typed_from_the_fields(capsys):
    args = build_parser().parse_args(["train", "--mlp-hidden", "16", "32", "--pow-p", "1.5",
                                      "--recency", "false", "--interest-num", "2"])
    assert args.mlp_hidden == [16, 32] and args.pow_p == 1.5 and args.recency is False
    assert args.interest_num == 2
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["train", "--embed-dim", "wide"])
    assert stop.value.code == 2
    assert "--embed-dim: expected an integer, got 'wide'" in capsys.readouterr().err
