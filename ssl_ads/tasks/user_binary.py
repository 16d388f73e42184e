"""A user-level binary outcome read from the label table (conversion, churn, bot)."""

from __future__ import annotations

from ssl_ads.tasks.binary import BinaryTask


class UserBinaryTask(BinaryTask):
    """Predict a 0/1 column per user from the user's history before the label window."""

    modality = "sequence"

    def __init__(self, label: str = "conversion") -> None:
        super().__init__(label)
