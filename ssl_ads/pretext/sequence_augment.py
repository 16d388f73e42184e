"""CL4SRec's sequence augmentations (Xie et al., 2022): crop, mask and reorder, on left-padded batches.

Crop and reorder are expressed as a column index per position (-1 = padding) applied to every
`[B, L]` field at once, so side fields move with their items; all of it is batched tensor code.
"""

from __future__ import annotations

import torch
from torch import Tensor

AUGMENTATIONS = ("crop", "mask", "reorder")


def crop_index(mask: Tensor, ratio: float) -> Tensor:
    """Keep a random contiguous `ratio` share (at least one item) of each sequence, left-padded again."""
    batch, length = mask.shape
    lengths = mask.sum(1)
    keep = torch.clamp((lengths.double() * ratio).floor().long(), min=1).minimum(lengths)
    start = (torch.rand(batch, device=mask.device) * (lengths - keep + 1)).floor().long()
    positions = torch.arange(length, device=mask.device)[None, :]
    # Output column q holds real item number start + (q - (L - keep)) of the row, which sits at column
    # (L - n) + that number in the left-padded input.
    source = (length - lengths)[:, None] + start[:, None] + positions - (length - keep)[:, None]
    return torch.where(positions >= (length - keep)[:, None], source, torch.full_like(source, -1))


def reorder_index(mask: Tensor, ratio: float) -> Tensor:
    """Shuffle a random contiguous `ratio` share of each sequence in place; padding stays where it is."""
    batch, length = mask.shape
    lengths = mask.sum(1)
    span = (lengths.double() * ratio).floor().long()
    start = (length - lengths) + (torch.rand(batch, device=mask.device) * (lengths - span + 1)).floor().long()
    positions = torch.arange(length, device=mask.device)[None, :].expand(batch, -1)
    inside = (positions >= start[:, None]) & (positions < (start + span)[:, None])
    # Inside the span, random keys strictly between the neighbours' integer keys: argsort shuffles it only.
    keys = torch.where(
        inside, start[:, None] - 0.5 + torch.rand(batch, length, device=mask.device) * span[:, None], positions.double()
    )
    index = keys.argsort(dim=1)
    return torch.where(mask, index, torch.full_like(index, -1))


def identity_index(mask: Tensor) -> Tensor:
    positions = torch.arange(mask.shape[1], device=mask.device)[None, :].expand_as(mask)
    return torch.where(mask, positions, torch.full_like(positions, -1))


def mask_positions(mask: Tensor, ratio: float) -> Tensor:
    """Real positions to replace by the [MASK] id (each with probability `ratio`)."""
    return (torch.rand(mask.shape, device=mask.device) < ratio) & mask


def apply_index(batch: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
    """Gather every `[B, L]` field by `index` (−1 → padding 0) and recompute the mask."""
    out = {}
    for name, value in batch.items():
        if name == "mask" or value.dim() != 2 or value.shape != index.shape:
            out[name] = value
            continue
        gathered = value.gather(1, index.clamp_min(0))
        out[name] = torch.where(index >= 0, gathered, torch.zeros_like(gathered))
    out["mask"] = out["items"] != 0
    return out


def augment(
    batch: dict[str, Tensor],
    augmentations: list[str] | tuple[str, ...],
    crop_ratio: float,
    mask_ratio: float,
    reorder_ratio: float,
    mask_id: int,
) -> dict[str, Tensor]:
    """One view: each sequence gets one augmentation drawn uniformly from `augmentations`."""
    mask = batch["mask"]
    choice = torch.randint(0, len(augmentations), (mask.shape[0],), device=mask.device)
    index = identity_index(mask)
    masked = torch.zeros_like(mask)
    for number, name in enumerate(augmentations):  # a loop over (at most 3) augmentations, not over rows
        rows = (choice == number)[:, None]
        if name == "crop":
            index = torch.where(rows, crop_index(mask, crop_ratio), index)
        elif name == "reorder":
            index = torch.where(rows, reorder_index(mask, reorder_ratio), index)
        elif name == "mask":
            masked = masked | (rows & mask_positions(mask, mask_ratio))
        else:
            raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(AUGMENTATIONS)}")
    items = torch.where(masked, torch.full_like(batch["items"], mask_id), batch["items"])
    return apply_index({**batch, "items": items}, index)
