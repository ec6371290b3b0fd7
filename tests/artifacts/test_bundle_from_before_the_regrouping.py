"""A bundle written by main before issue 15 (the stage packages and the grouped config) is found
by its name, loads, verifies against its manifest and is reused rather than retrained.

``fixtures/mind-k2-742e2d02`` was trained by that code (`mind-core train --dataset tiny-synth
--embed-dim 8 --max-length 10 --epochs 1 --batch-size 512 --mlp-hidden 16 --interest-num 2
--no-serving`) on `mind-core data synth --users 60 --items 80 --ratings 1500 --seed 3`, which
the test writes again (the generator is seeded: same bytes, same fingerprint)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mind_core.artifacts import default_bundle_path, list_bundles, load_bundle
from mind_core.config import MINDConfig
from mind_core.data.synth import generate
from mind_core.workflow.pipeline import bundle_data, ensure_bundle, forget_loaded_data

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mind-k2-742e2d02"


@pytest.fixture
def old_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    generate(home / "tiny-synth", users=60, items=80, ratings=1500, seed=3)
    shutil.copytree(FIXTURE, home / "artifacts" / "tiny-synth" / FIXTURE.name)
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(home))
    forget_loaded_data()
    yield home
    forget_loaded_data()


def test_old_bundle_is_found_by_its_name_and_reused(old_home):
    stored = json.loads((FIXTURE / "config.json").read_text())
    config = MINDConfig.from_dict(stored["config"])
    path = default_bundle_path(config, "tiny-synth")
    assert path.name == stored["meta"]["name"] == FIXTURE.name
    assert list_bundles("tiny-synth") == [path]
    bundle = load_bundle(path)
    data = bundle_data(bundle)
    assert data.encoded.fingerprint == bundle.meta["fingerprint"]
    assert bundle.user_interests.shape == (60, 2, 8)
    reused, trained = ensure_bundle("tiny-synth", config, with_serving=False)
    assert not trained and reused.path == path
    model = bundle.load_model(data.encoded)  # the weights fit today's model classes
    assert model.routing.init_logits.shape == (2, 10)
