"""Backups of a training run and exact resume: what ``training.fit`` saves and restores.

A backup holds the weights, the optimizer's state (its step count included) and the
run's position: the epoch, and how many of its batches are trained. It is written
every N batches and at each epoch end, with the previous backup kept beside it, so a
backup torn by a hard kill falls back to the one before (and says so).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import keras

BACKUP_DIR = "backup"
#: The files of the latest backup, inside ``BACKUP_DIR``, and of the one before it.
BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_STATE = "training_metadata.json"
PREVIOUS_WEIGHTS = "previous.weights.h5"
PREVIOUS_STATE = "previous_metadata.json"


class BackupError(ValueError):
    """The backup of an interrupted run cannot be read, so the run cannot resume."""


class BackupFallbackWarning(UserWarning):
    """The latest backup was damaged, so the run resumed from the previous one."""


class Backup(keras.callbacks.Callback):
    """Save weights, optimizer state and position every ``every`` batches and at epoch ends.

    The position is the epoch (0-based), its batches trained (``steps_done``) and the
    optimizer's step count, which :func:`restore` checks against the weights. Each save
    first copies the latest backup to ``previous.*``, so a hard kill leaves one readable.
    """

    def __init__(self, backup_dir: Path, every: int | None) -> None:
        super().__init__()
        self.backup_dir, self.every = Path(backup_dir), every
        self._epoch = self._done = self._epoch_start = self._since_save = 0
        self._offset = 0  # batches of the next epoch trained before this fit call

    def start_within_epoch(self, steps_done: int) -> None:
        """The next epoch is a resumed one whose first ``steps_done`` batches are done."""
        self._offset = steps_done

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._epoch_start, self._done = epoch, self._offset, self._offset
        self._offset = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        trained = self._epoch_start + batch + 1  # batch: the last index of this step
        self._since_save += trained - self._done
        self._done = trained
        if self.every and self._since_save >= self.every:
            self._since_save = 0
            self._save()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._done = epoch + 1, 0
        self._save()

    def _save(self) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        weights, state = self.backup_dir / BACKUP_WEIGHTS, self.backup_dir / BACKUP_STATE
        for path, previous in ((weights, PREVIOUS_WEIGHTS), (state, PREVIOUS_STATE)):
            if path.is_file():
                shutil.copyfile(path, self.backup_dir / previous)
        self.model.save_weights(weights, overwrite=True)
        position = {"epoch": self._epoch, "steps_done": self._done,
                    "iterations": int(self.model.optimizer.iterations)}
        partial = state.with_name(state.name + ".partial")
        partial.write_text(json.dumps(position))
        os.replace(partial, state)


def restore(model: keras.Model, backup_dir: Path) -> tuple[int, int] | None:
    """Load the last readable backup into ``model``; its ``(epoch, steps_done)``.

    ``None`` when the folder holds no backup at all. When the latest backup is damaged
    (torn by a hard kill, or its weights and position disagree) the previous one is
    used, with a :class:`BackupFallbackWarning` naming the damaged file.

    Raises:
        ValueError: ``model`` is not built, so there is nothing to load weights into.
        BackupError: neither backup can be read; nothing is deleted.
    """
    pairs = [(backup_dir / BACKUP_WEIGHTS, backup_dir / BACKUP_STATE),
             (backup_dir / PREVIOUS_WEIGHTS, backup_dir / PREVIOUS_STATE)]
    if not any(path.exists() for pair in pairs for path in pair):
        return None
    if not model.built:
        raise ValueError(
            f"{backup_dir} holds the backup of an interrupted run, but the model "
            f"{model.name!r} is not built, so its weights cannot be restored. Build it "
            "first (give it a keras.Input, or call it on a batch), then call fit again.")
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    damaged: list[str] = []
    for weights, state in pairs:
        if not weights.is_file() or not state.is_file():
            missing = state if weights.is_file() else weights
            damaged.append(f"{missing} is missing")
            continue
        try:
            position = json.loads(state.read_text())
            epoch, done = int(position["epoch"]), int(position.get("steps_done", 0))
            iterations = position.get("iterations")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            damaged.append(f"{state} cannot be read ({type(exc).__name__}: {exc})")
            continue
        try:
            model.load_weights(weights)
        except (OSError, ValueError, KeyError) as exc:
            damaged.append(f"{weights} cannot be read ({type(exc).__name__}: {exc})")
            continue
        if iterations is not None and int(model.optimizer.iterations) != int(iterations):
            damaged.append(f"{weights} holds step {int(model.optimizer.iterations)}, but "
                           f"{state} says step {iterations} (cut off between the two files)")
            continue
        if damaged:
            warnings.warn(f"The latest backup is damaged: {'; '.join(damaged)}. Resuming from "
                          f"the previous backup instead (epoch {epoch + 1}, after {done} of its "
                          "batches); the batches trained since then are trained again.",
                          BackupFallbackWarning, stacklevel=3)
        return epoch, done
    raise BackupError(
        f"The backup of the interrupted run in {backup_dir} cannot be read (probably cut "
        f"short by a hard kill): {'; '.join(damaged)}. Delete that folder to start the run "
        "again from epoch 1 (the run folder's history and best model are then replaced), "
        "or put a good copy of it back.")
