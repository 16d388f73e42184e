"""Every config choice composes, validates and instantiates; incompatible ones fail with the choices listed."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from ssl_ads.config.choices import CONFIG_DIR, group_choices, target_of
from ssl_ads.config.schema import register_configs
from ssl_ads.config.validate import validate_run_config
from ssl_ads.errors import ConfigError

# Data-derived constructor arguments per modality, as the stages pass them.
ENCODER_DATA_KWARGS = {
    "sequence": {"num_items": 50, "max_len": 20, "side_vocab_sizes": {"action": 4}},
    "tabular": {"cardinalities": [5, 7, 3], "num_numeric": 2},
    "text": {"vocab_size": 300, "max_len": 32},
}


class TabularOnlyEncoder:
    """A stand-in component of another modality (a real class, so the check reads a real attribute)."""

    modality = "tabular"

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim


def compose_run(*overrides: str):
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=["stage=pipeline", *overrides])


def _modalities(group: str, choice: str) -> set[str]:
    declared = get_class(target_of(group, choice)).modality
    return {declared} if isinstance(declared, str) else set(declared)


def _modality_of_dataset(choice: str) -> str:
    return next(iter(_modalities("dataset", choice)))


def _representative_dataset(modality: str) -> str:
    """The first dataset option of a modality that needs no file (the simulator's views)."""
    simulated = [c for c in group_choices("dataset") if c.startswith("synthetic")]
    return next(c for c in simulated if _modality_of_dataset(c) == modality)


def _combinations():
    """Every compatible encoder × pretext × task triple per modality, every dataset, and every choice
    against a dataset of another modality (the full cartesian product is thousands of mostly-redundant cases)."""
    cases = []
    modalities = sorted({_modality_of_dataset(c) for c in group_choices("dataset")})
    for modality in modalities:
        dataset = _representative_dataset(modality)
        groups = ("encoder", "pretext", "task")
        options = [[c for c in group_choices(g) if modality in _modalities(g, c)] for g in groups]
        for encoder, pretext, task in itertools.product(*options):
            cases.append({"dataset": dataset, "encoder": encoder, "pretext": pretext, "task": task})
    for dataset in group_choices("dataset"):
        modality = _modality_of_dataset(dataset)
        base = next(c for c in cases if c["dataset"] == _representative_dataset(modality))
        cases.append({**base, "dataset": dataset})
    for group in ("encoder", "pretext", "task"):
        for choice in group_choices(group):
            other = [m for m in modalities if m not in _modalities(group, choice)]
            if other:
                base = next(c for c in cases if c["dataset"] == _representative_dataset(other[0]))
                cases.append({**base, group: choice})
    unique = {tuple(sorted(c.items())): c for c in cases}
    return list(unique.values())


@pytest.mark.parametrize("choices", _combinations(), ids=lambda c: "-".join(c.values()))
def test_every_combination_validates_or_fails_listing_compatible_choices(choices):
    cfg = compose_run(*[f"{g}={c}" for g, c in choices.items()])
    for key in OmegaConf.missing_keys(cfg):  # file-based datasets: any path composes
        if key.startswith("dataset."):
            OmegaConf.update(cfg, key, ["text"] if key.endswith("_cols") else "/data/events.csv")
    data_modality = next(iter(_modalities("dataset", choices["dataset"])))
    compatible = all(data_modality in _modalities(g, choices[g]) for g in ("encoder", "pretext", "task"))
    if not compatible:
        with pytest.raises(ConfigError, match="Compatible"):
            validate_run_config(cfg, choices)
        return
    validate_run_config(cfg, choices)
    encoder = instantiate(cfg.encoder, **ENCODER_DATA_KWARGS[data_modality])
    pretext = instantiate(cfg.pretext)
    needs = getattr(pretext, "needs", None)  # an encoder method the objective requires (masked_token)
    if needs and not hasattr(encoder, needs):
        with pytest.raises(ConfigError, match=f"{needs}.*encoder="):
            pretext.attach(encoder)
        return
    pretext.attach(encoder)
    task = instantiate(cfg.task)
    if task.kind == "ranking":  # scored by the encoder's item logits, no head
        return
    if hasattr(task, "classes"):  # text tasks size their head from the labels' classes
        task.extract_labels(pl.DataFrame({task.label: ["a", "b", "c"]}), "labels")
    assert task.make_head(encoder.dim) is not None


def test_every_experiment_composes_and_validates():
    for experiment in group_choices("experiment"):
        cfg = compose_run(f"experiment={experiment}")
        for key in OmegaConf.missing_keys(cfg):  # experiments on the user's own files leave the path open
            if key.startswith("dataset."):
                OmegaConf.update(cfg, key, "/data/file.parquet")
        validate_run_config(cfg, {"experiment": experiment})
        assert OmegaConf.select(cfg, "pretrain.max_epochs") > 0


def test_incompatible_encoder_lists_the_compatible_choices():
    cfg = compose_run()
    cfg.encoder = OmegaConf.create({"_target_": f"{__name__}.TabularOnlyEncoder", "dim": 8})
    with pytest.raises(ConfigError) as err:
        validate_run_config(cfg, {"encoder": "tabular_only", "dataset": "synthetic"})
    message = str(err.value)
    assert "encoder=tabular_only" in message and "sequence" in message
    assert "transformer" in message


def test_wrong_type_and_unknown_key_name_the_key():
    cfg = compose_run("encoder.dim=wide")
    with pytest.raises(ConfigError, match=r"encoder\.dim"):
        validate_run_config(cfg, {})
    cfg = compose_run("+pretext.mask_rate=0.3")
    with pytest.raises(ConfigError, match=r"pretext\.mask_rate"):
        validate_run_config(cfg, {})


def chosen(*overrides: str) -> dict[str, str]:
    """The encoder, pretext and task options Hydra picked for these overrides."""
    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=pipeline", *overrides], return_hydra_config=True)
    return {group: cfg.hydra.runtime.choices[group] for group in ("encoder", "pretext", "task")}


@pytest.mark.parametrize("dataset", group_choices("dataset"))
def test_a_dataset_alone_brings_its_modality_s_encoder_pretext_and_task(dataset):
    cfg = compose_run(f"dataset={dataset}")
    for key in OmegaConf.missing_keys(cfg):
        OmegaConf.update(cfg, key, ["text"] if key.endswith("_cols") else "/data/events.csv")
    if "label_col" in cfg.dataset and cfg.dataset.label_col is None:  # text files: the user names the label
        cfg.dataset.label_col = "label"
    validate_run_config(cfg, {"dataset": dataset})  # raises, listing the compatible choices, on a mismatch
    modality = _modality_of_dataset(dataset)
    assert all(modality in _modalities(group, choice) for group, choice in chosen(f"dataset={dataset}").items())


def test_the_command_line_and_experiments_win_over_a_dataset_s_defaults():
    picked = chosen("dataset=text_file", "encoder=text_transformer", "pretext=masked_token")
    assert picked == {"encoder": "text_transformer", "pretext": "masked_token", "task": "text_label"}
    assert chosen("experiment=reviews_best")["encoder"] == "sentence_tfidf"
    assert chosen("dataset=movielens")["task"] == "next_item"
    assert chosen("dataset=tabular_file") == {"encoder": "field_mlp", "pretext": "masked_feature", "task": "ctr"}
    assert compose_run("dataset=tabular_file", "dataset.label=income").task.label == "income"
    assert compose_run("dataset=synthetic_impressions").task.label == "click"
