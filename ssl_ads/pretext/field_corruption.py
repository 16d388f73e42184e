"""Field corruption shared by the tabular pretexts (VIME's mask generator, SCARF's view).

A chosen field takes the value that same field has in another row drawn uniformly from the batch: a
draw from the field's empirical marginal (batches are random samples of the train rows), so a
corrupted row stays in-distribution field by field while the joint structure is broken.
"""

from __future__ import annotations

import torch
from torch import Tensor


def corrupt_fields(
    cat: Tensor, num: Tensor, rate: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Returns `(cat_mask [B, Fc], num_mask [B, Fn], corrupted cat, corrupted num)`; masks are True where replaced."""
    batch, device = cat.shape[0], cat.device

    def one(values: Tensor) -> tuple[Tensor, Tensor]:
        shape = values.shape
        mask = torch.rand(shape, generator=generator, device=device) < rate
        donors = torch.randint(0, max(batch, 1), shape, generator=generator, device=device)
        replaced = values.gather(0, donors) if values.numel() else values
        return mask, torch.where(mask, replaced, values)

    cat_mask, cat_corrupted = one(cat)
    num_mask, num_corrupted = one(num)
    return cat_mask, num_mask, cat_corrupted, num_corrupted
