"""Two runs of a stage started within the same second must not share (and overwrite) one run directory."""

from __future__ import annotations

from hydra.core.utils import setup_globals
from omegaconf import OmegaConf

from ssl_ads.config.choices import CONFIG_DIR


def test_run_and_sweep_directories_are_distinct_within_one_second():
    setup_globals()  # registers Hydra's `now` resolver, as a run does
    hydra = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "config.yaml").hydra, resolve=False)
    for key in ("run", "sweep"):
        pattern = {"stage": "embed", "dir": hydra[key]["dir"]}
        # two configs (Hydra caches `now` per config, as per run): what two runs a few microseconds apart resolve
        first, second = (OmegaConf.to_container(OmegaConf.create(pattern), resolve=True)["dir"] for _ in range(2))
        assert first != second, key
