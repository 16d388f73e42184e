"""Packages for setuptools (all other metadata is in pyproject.toml).

`configs/` stays at the top of the repository and is installed as the package `ssl_ads.configs`, so a wheel
carries its YAML and Hydra reads it as `pkg://ssl_ads.configs` from any directory. pyproject.toml's automatic
discovery cannot map a folder into another package, hence this file. The config groups are listed as
(namespace) packages too, so setuptools does not warn that it installs them as plain data.
"""

from setuptools import find_namespace_packages, find_packages, setup

CONFIG_GROUPS = [f"ssl_ads.configs.{name}" for name in find_namespace_packages("configs", exclude=["__pycache__*"])]

setup(
    packages=[*find_packages(include=["ssl_ads*"]), "ssl_ads.configs", *CONFIG_GROUPS],
    package_dir={"ssl_ads.configs": "configs"},
)
