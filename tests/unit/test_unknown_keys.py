"""A misspelt setting is named with the closest real ones of its node, not with Hydra's advice to append it
(`+key=`), which the checked config would refuse anyway."""

from __future__ import annotations

import pytest

from ssl_ads.config.preflight import preflight
from ssl_ads.errors import ConfigError


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["dataset=tabular_file", "dataset.path=x.csv", "dataset.positve_class=F"],
         r"^dataset\.positve_class is not a setting: did you mean dataset\.positive_class\? dataset has _target_, "
         r"path, label, positive_class"),
        (["encoder.dimm=3"], r"^encoder\.dimm is not a setting: did you mean encoder\.dim or encoder\.ff_dim\?"),
        (["labels_fractions=[0.1]"], r"^labels_fractions is not a setting: did you mean label_fractions\? the config "
                                     r"has stage, seed"),
    ],
)  # fmt: skip
def test_a_misspelt_key_is_named_with_the_closest_settings(overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        preflight([*overrides, "stage=pipeline"], [])


def test_a_key_below_a_value_keeps_hydras_message():
    with pytest.raises(ConfigError, match=r"Could not override 'encoder\.dim\.x'"):
        preflight(["encoder.dim.x=3", "stage=pipeline"], [])
