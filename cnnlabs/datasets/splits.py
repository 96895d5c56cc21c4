"""The value every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Splits:
    """A dataset split into train / (optional) val / test arrays.

    Images are ``uint8`` arrays shaped ``(N, H, W, C)``: channels last, always
    with a channel axis. Labels are ``int64`` class indices shaped ``(N,)``.

    Attributes:
        name: the catalogue name (``"mnist"``).
        x_train, y_train, x_test, y_test: the official splits (maybe subsampled by the profile).
        class_names: one name per class index.
        x_val, y_val: a validation split when the dataset ships one, else ``None``
            (``pipelines`` carves one out of train).
        source: where the arrays came from: a file path, or ``"mock"``.
        is_mock: True for synthetic stand-in data; such numbers mean nothing.
        notes: human-readable remarks (subsampling, warnings) for reports.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    source: str = ""
    is_mock: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        """One line: sizes, shape and source, flagged loudly when mock."""
        val = "" if self.x_val is None else f", val {len(self.x_val)}"
        text = (
            f"{self.name}: train {len(self.x_train)}{val}, test {len(self.x_test)}, "
            f"image {self.input_shape}, {self.num_classes} classes, from {self.source}"
        )
        if self.is_mock:
            text = "MOCK DATA (synthetic; accuracy means nothing) -- " + text
        return text
