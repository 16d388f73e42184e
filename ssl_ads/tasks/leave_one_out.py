"""Leave-one-out over full, left-padded user histories: last event = test, second-to-last = validation.

Training reads only the events before the validation target, cut into windows of `window + 1` events
(ending at the last training event, every `stride` events back) so a causal objective trains all
positions of a window at once and the whole history is used, not only its tail. Validation and test
histories are the `window` events right before their target. Everything is one numpy gather per array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssl_ads.errors import DataError

MIN_EVENTS = 3  # one training event, the validation target and the test target


@dataclass(frozen=True)
class LeaveOneOut:
    train: dict[str, np.ndarray]  # windows `[n_windows, window + 1]` per field
    train_user: np.ndarray  # the user row each training window comes from
    # histories `[n_users, window]` per field, "target" `[n_users]` and "seen" (all earlier items) `[n_users, M']`
    val: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    users: np.ndarray  # rows of the evaluated users (those with at least MIN_EVENTS events)
    truncated_users: int  # users whose history filled the featurized array (older events were cut)

    @property
    def n_train_targets(self) -> int:
        items = self.train["items"]
        return int(((items[:, :-1] != 0) & (items[:, 1:] != 0)).sum())

    def pretrain_arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Training windows followed by one window per user ending at its validation target (for the
        pretext's validation loss); returns arrays, train rows, val rows. Test targets never appear."""
        n_users = len(self.users)
        val_windows = {
            name: np.concatenate([history, self.val["target"][:, None].astype(history.dtype)], axis=1)
            if name == "items"
            else np.concatenate([history, np.zeros((n_users, 1), history.dtype)], axis=1)
            for name, history in self.val.items()
            if name not in ("target", "seen")
        }
        arrays = {name: np.concatenate([self.train[name], val_windows[name]]) for name in self.train}
        n_windows = len(self.train_user)
        return arrays, np.arange(n_windows), np.arange(n_windows, n_windows + n_users)


def leave_one_out(
    inputs: dict[str, np.ndarray], lengths: np.ndarray, window: int, stride: int, source: str = "data"
) -> LeaveOneOut:
    """Split every `[N, M]` left-padded field (items and side fields) by leave-one-out."""
    if window < 1 or not 1 <= stride <= window:
        raise DataError(f"task.window must be >= 1 and task.stride in [1, window]; got {window} and {stride}")
    lengths = np.asarray(lengths, dtype=np.int64)
    width = next(iter(inputs.values())).shape[1]
    users = np.flatnonzero(lengths >= MIN_EVENTS)
    if len(users) == 0:
        raise DataError(f"{source}: no user has {MIN_EVENTS} or more events; leave-one-out needs that many")
    first = width - lengths  # column of each user's first event

    # Evaluation: `window` columns before the target column (width-2 for validation, width-1 for test).
    offsets = np.arange(-window, 0)
    evals = {}
    for name, target_col in (("val", width - 2), ("test", width - 1)):
        cols = target_col + offsets[None, :].repeat(len(users), 0)
        part = _gather(inputs, users, cols, first[users])
        part["target"] = np.asarray(inputs["items"][users, target_col]).astype(np.int64)
        # Every earlier event of the user (not only the window), for `exclude_seen`.
        part["seen"] = np.asarray(inputs["items"][users, :target_col]).astype(np.int64)
        evals[name] = part

    # Training windows: targets are training events 2..n-2, windows end at column width-2 (exclusive).
    n_train_targets = np.maximum(lengths[users] - 3, 0)
    per_user = -(-n_train_targets // stride)
    window_user = np.repeat(users, per_user)
    starts = np.cumsum(per_user) - per_user
    k = np.arange(per_user.sum()) - np.repeat(starts, per_user)
    ends = (width - 2) - k * stride
    cols = ends[:, None] - (window + 1) + np.arange(window + 1)[None, :]
    train = _gather(inputs, window_user, cols, first[window_user])
    return LeaveOneOut(
        train=train,
        train_user=window_user,
        val=evals["val"],
        test=evals["test"],
        users=users,
        truncated_users=int((lengths >= width).sum()),
    )


def _gather(inputs: dict[str, np.ndarray], rows: np.ndarray, cols: np.ndarray, first: np.ndarray) -> dict:
    """`inputs[name][rows, cols]` with columns before the user's first event (or < 0) set to padding."""
    valid = cols >= np.maximum(first, 0)[:, None]
    safe = np.clip(cols, 0, None)
    return {name: np.where(valid, np.asarray(array)[rows[:, None], safe], 0) for name, array in inputs.items()}
