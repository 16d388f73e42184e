"""ssl-ads: self-supervised pretraining, probing and fine-tuning on advertising data."""

__version__ = "0.1.0"
