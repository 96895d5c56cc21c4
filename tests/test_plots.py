"""Figures: each plot has the panels it promises and saves a PNG."""

from __future__ import annotations

import numpy as np

from cnnlabs import plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_training_curves_accept_history_rows_or_a_keras_history_dict(tmp_path):
    rows = [{"epoch": 1, "loss": 1.0, "val_loss": 1.2, "accuracy": 0.5, "val_accuracy": 0.4},
            {"epoch": 2, "loss": 0.5, "val_loss": 0.7, "accuracy": 0.8, "val_accuracy": 0.7}]
    fig = plots.training_curves(rows, path=tmp_path / "a.png")
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), [0.4, 0.7])
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG
    from_dict = plots.training_curves({"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]})
    assert len(from_dict.axes[0].lines) == 1  # no validation series to draw


def test_montage_titles_each_image_with_its_class():
    images = np.zeros((5, 4, 4, 1), "uint8")
    fig = plots.montage(images, [0, 1, 2, 1, 0], ["a", "b", "c"], ncols=4)
    assert len(fig.axes) == 8
    assert [ax.get_title() for ax in fig.axes[:5]] == ["a", "b", "c", "b", "a"]


def test_confusion_matrix_writes_every_count():
    fig = plots.confusion_matrix(np.array([[5, 1], [2, 7]]), ["no", "yes"])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["1", "2", "5", "7"]


def test_misclassified_shows_only_the_mistakes_true_then_predicted():
    images = np.zeros((4, 4, 4), "uint8")
    fig = plots.misclassified(images, np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1]), ["x", "y"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["y -> x", "x -> y"]
    assert "2 misclassified" in fig.get_suptitle()


def test_misclassified_says_how_many_of_how_many_it_shows():
    images = np.zeros((5, 4, 4), "uint8")
    fig = plots.misclassified(images, np.array([0, 0, 0, 0, 1]), np.array([1, 1, 1, 0, 0]),
                              ["x", "y"], limit=2)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2
    assert "the first 2 of 4 misclassified" in fig.get_suptitle()


def test_augmentation_grid_shows_the_original_then_the_copies():
    images = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3), dtype="uint8")
    fig = plots.augmentation_grid(images, ["flip", "crop"], copies=3)
    assert len(fig.axes) == 2 * 4
    assert [ax.get_title() for ax in fig.axes[:4]] == ["original", "#1", "#2", "#3"]
    assert "flip, crop" in fig.get_suptitle()


def test_compare_curves_draws_one_line_per_run_and_metric():
    a = [{"epoch": 1, "loss": 2.0, "val_accuracy": 0.3}, {"epoch": 2, "loss": 1.0,
                                                          "val_accuracy": 0.5}]
    b = [{"epoch": 1, "loss": 2.2, "val_accuracy": 0.2}]
    fig = plots.compare_curves({"plain": a, "residual": b})
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["plain", "residual"]
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [0.3, 0.5])


def _displays(monkeypatch) -> list:
    """Pretend to run in a notebook; the list collects what IPython would display."""
    import IPython.display

    shown: list = []
    monkeypatch.setattr(plots, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    return shown


def test_a_figure_shows_where_it_is_made_and_only_once(monkeypatch):
    shown = _displays(monkeypatch)
    fig = plots.confusion_matrix(np.array([[5, 1], [2, 7]]), ["no", "yes"])
    assert len(shown) == 1 and shown[0].data[:8] == PNG  # shown though not the last line
    fig._ipython_display_()  # what IPython does when the figure is the cell's last value
    assert len(shown) == 1


def test_a_figure_saved_to_a_path_is_not_shown(monkeypatch, tmp_path):
    shown = _displays(monkeypatch)
    plots.training_curves([{"epoch": 1, "loss": 1.0}], path=tmp_path / "curves.png")
    assert shown == [] and (tmp_path / "curves.png").read_bytes()[:8] == PNG


def test_outside_a_notebook_nothing_is_displayed():
    assert plots.in_notebook() is False  # pytest runs no kernel
    fig = plots.montage(np.zeros((2, 4, 4, 1), "uint8"))
    assert fig.shown is False
