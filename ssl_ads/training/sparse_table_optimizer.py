"""SparseAdam for a sparse item table and AdamW for every other parameter, held as one optimiser.

One optimiser, not two under manual optimisation, so Lightning's automatic loop stays as it is for every
pretext: precision plugins, `accumulate_grad_batches` (sparse gradients accumulate by concatenation), callbacks
(EMA, online probe) and checkpoints (the state dict holds both inner states, so a resumed run continues both).
Gradient clipping is refused with the sparse table: torch's clipping has no sparse kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ssl_ads.errors import ConfigError

# The keys of this optimiser's state dict: how a checkpoint shows which optimiser wrote it.
STATE_KEYS = ("table", "dense")


class SparseTableAdam(torch.optim.Optimizer):
    """`table` (a `sparse=True` embedding's weight) by SparseAdam, `dense` parameters by AdamW, both at `lr`.

    SparseAdam is lazy Adam: a row's moments and weights move only on steps whose batch read that row, so a step
    costs O(rows read) rather than O(catalogue). It has no weight decay: `weight_decay` applies to the dense
    parameters only, the table's rows are never decayed (AdamW's decoupled decay would touch every row each step,
    the O(V) work this avoids).
    """

    def __init__(self, table: nn.Parameter, dense: Iterable[nn.Parameter], lr: float, weight_decay: float) -> None:
        dense = list(dense)
        self.table = table
        self.table_optimizer = torch.optim.SparseAdam([table], lr=lr)
        self.dense_optimizer = torch.optim.AdamW(dense, lr=lr, weight_decay=weight_decay)
        super().__init__([table, *dense], {"lr": lr})
        self._share_inner_state()

    def _share_inner_state(self) -> None:
        """Expose the inner optimisers' groups and state as this one's (read by schedulers and Lightning)."""
        self.param_groups = [*self.table_optimizer.param_groups, *self.dense_optimizer.param_groups]
        self.state = JoinedState(self.table_optimizer.state, self.dense_optimizer.state)  # type: ignore[assignment]

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.table.grad is not None and not self.table.grad.is_sparse:
            raise ConfigError(
                "pretrain.sparse_item_table: the pretext's loss read the whole item table (a dense gradient, e.g. "
                "a full softmax over the catalogue); SparseAdam needs sparse gradients: use pretext.negatives="
                "sampled or in_batch, or pretrain.sparse_item_table=false"
            )
        self.table_optimizer.step()
        self.dense_optimizer.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.table_optimizer.zero_grad(set_to_none)
        self.dense_optimizer.zero_grad(set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"table": self.table_optimizer.state_dict(), "dense": self.dense_optimizer.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.table_optimizer.load_state_dict(state_dict["table"])
        self.dense_optimizer.load_state_dict(state_dict["dense"])
        self._share_inner_state()  # load_state_dict replaced the inner groups and state objects


class JoinedState(Mapping):
    """A live, read-only view of the inner optimisers' per-parameter state (Lightning moves it between devices).

    Not a `ChainMap`: looking a key up in an inner `defaultdict` that lacks it would insert an empty entry there,
    and a state entry for a parameter an optimiser does not own breaks its `state_dict`."""

    def __init__(self, *maps: Mapping) -> None:
        self.maps = maps

    def __getitem__(self, key: object) -> Any:
        for mapping in self.maps:
            if key in mapping:
                return mapping[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator:
        return (key for mapping in self.maps for key in mapping)

    def __len__(self) -> int:
        return sum(len(mapping) for mapping in self.maps)
