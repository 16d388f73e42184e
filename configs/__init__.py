# Installed as the package `ssl_ads.configs` (setup.py): Hydra reads a config package through pkg:// only when it
# has an __init__.py.
