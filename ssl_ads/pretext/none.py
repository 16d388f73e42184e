"""`pretext=none`: the from-scratch baseline (the encoder keeps its random initialisation)."""

from __future__ import annotations

from ssl_ads.pretext.base import Pretext


class NoPretext(Pretext):
    modality = ("sequence", "tabular", "text")
    trains = False
