"""Figures for the explanation methods, drawn with :mod:`cnnlabs.plots`' figure helpers.

Every ``plot_*`` function returns the ``Figure``; with ``path`` it saves a PNG
there, and without one, in a notebook, the figure shows once where it is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlabs.explain import _model
from cnnlabs.explain.attributions import gradcam
from cnnlabs.explain.features import Neighbours, Patches, filters

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure


def _display(image: Any) -> np.ndarray:
    """An image as float RGB in [0, 1], shaped (H, W, 3)."""
    img = np.asarray(image)
    if img.dtype == np.uint8:
        img = img.astype("float32") / 255.0
    else:
        img = np.nan_to_num(img.astype("float32"))
        lo, hi = float(np.min(img)), float(np.max(img))
        if lo < 0.0 or hi > 1.0:
            if lo >= 0.0 and hi <= 255.0:
                img = img / 255.0
            else:
                img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"Expected an image shaped (H, W), (H, W, 1) or (H, W, 3); "
                         f"got {np.shape(image)}.")
    return np.clip(img, 0.0, 1.0)


def _stretch(image: Any) -> np.ndarray:
    """An image of any range stretched to [0, 1] (min to 0, max to 1), as RGB."""
    img = np.nan_to_num(np.asarray(image, dtype="float32"))
    lo, hi = (float(img.min()), float(img.max())) if img.size else (0.0, 1.0)
    return _display((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img))


def gradient_image(values: Any) -> np.ndarray:
    """Gradients (N, H, W, C) or one (H, W, C) as images in [0, 1]: 0.5 is zero.

    Each image is centred and scaled by its standard deviation (0.1 per standard
    deviation), so positive and negative evidence both show.
    """
    v = np.asarray(values, dtype="float32")
    if v.ndim == 3:
        v = v[None]
    if v.ndim != 4:
        raise ValueError(f"Expected gradients shaped (N, H, W, C); got {np.shape(values)}.")
    mean = v.mean(axis=(1, 2, 3), keepdims=True) if v.size else 0.0
    std = v.std(axis=(1, 2, 3), keepdims=True) if v.size else 1.0
    return np.clip(0.5 + 0.1 * (v - mean) / np.where(std > 0, std, 1.0), 0.0, 1.0)


def overlay(image: Any, heatmap: Any, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a heatmap (colour-mapped with ``cmap``) over an image.

    Args:
        image: (H, W), (H, W, 1) or (H, W, 3); uint8 0-255 or float (0-1 or 0-255).
        heatmap: (h, w) in [0, 1]; resized to (H, W) if needed.
        alpha: weight of the heatmap colour.
        cmap: a matplotlib colour map name.

    Returns:
        RGB float image (H, W, 3) in [0, 1].

    Raises:
        ValueError: an image or heatmap of another shape (e.g. a batch of maps).
    """
    from matplotlib import colormaps

    img = _display(image)
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype="float32")), 0.0, 1.0)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2:
        raise ValueError(f"Expected one heatmap shaped (h, w) or (h, w, 1); got "
                         f"{np.shape(heatmap)} (a batch of maps? overlay them one at a time).")
    if heat.shape != img.shape[:2]:
        from skimage.transform import resize

        heat = resize(heat, img.shape[:2], order=1, mode="edge", anti_aliasing=False)
    colour = colormaps[cmap](heat)[..., :3].astype("float32")
    return np.clip((1.0 - alpha) * img + alpha * colour, 0.0, 1.0).astype("float32")


def _name(i: Any, class_names: Sequence[str] | None) -> str:
    return str(class_names[int(i)]) if class_names is not None else str(int(i))


def _grid(n: int, cols: int, panel: float = 1.5) -> tuple[Figure, Any, int, int]:
    from cnnlabs.plots import _figure

    cols = max(1, min(int(cols), max(n, 1)))
    rows = max(1, -(-n // cols))
    fig, axes = _figure(cols, rows, (panel * cols, panel * rows + 0.4))
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes, rows, cols


def plot_gradcam(model: keras.Model, images: Any, labels: Sequence[int] | None = None,
                 class_names: Sequence[str] | None = None,
                 class_index: int | Sequence[int] | None = None, layer: str | None = None,
                 alpha: float = 0.4, cols: int = 3, path: Path | str | None = None,
                 title: str | None = None, heatmaps: np.ndarray | None = None,
                 predictions: Sequence[int] | None = None) -> Figure:
    """A grid of (image, Grad-CAM overlay) pairs titled with the true and predicted class.

    Args:
        model, images, class_index, layer: as in :func:`gradcam`.
        labels: true class per image (optional), shown on the image.
        class_names: names for the class numbers.
        alpha: weight of the heatmap colour.
        cols: image/overlay pairs per row.
        path: also save the figure there as PNG.
        title: the figure's title.
        heatmaps: the :func:`gradcam` maps (or any maps in [0, 1]) of these very
            images, when already computed (they are not computed again).
        predictions: the class decided for each image, when the decision is not the
            arg-max of the model's output (e.g. ``report.y_pred`` of a report at a
            threshold chosen on validation). Titles, colours and the score shown follow
            it, and so do the maps computed here when ``class_index`` is None; by
            default they follow the arg-max.

    Raises:
        ValueError: labels, predictions or heatmaps that do not match the images.
    """
    from cnnlabs.plots import _figure, _finish

    x = _model.as_batch(model, images)
    probs = np.asarray(model.predict(x, verbose=0))
    if predictions is None:
        pred = probs.argmax(axis=-1)
    else:
        pred = np.asarray(predictions, dtype="int64").reshape(-1)
        if pred.shape != (len(x),):
            raise ValueError(f"predictions has {pred.size} entries for {len(x)} images.")
        if pred.min(initial=0) < 0 or pred.max(initial=0) >= probs.shape[-1]:
            raise ValueError(f"predictions must be class numbers in [0, {probs.shape[-1]}); "
                             f"got {pred.tolist()}.")
    heat = (np.asarray(heatmaps) if heatmaps is not None
            else gradcam(model, x, layer=layer,
                         class_index=class_index if class_index is not None
                         else (pred if predictions is not None else None)))
    n = len(x)
    if len(heat) != n:
        raise ValueError(f"heatmaps has {len(heat)} maps for {n} images.")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} images.")
    pairs = max(1, min(int(cols), n))
    rows = -(-n // pairs)
    fig, axes = _figure(2 * pairs, rows, (3.0 * pairs * 2 * 0.8, 2.6 * rows))
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, pairs)
        ax_img, ax_cam = axes[r][2 * c], axes[r][2 * c + 1]
        ax_img.imshow(_display(x[i]))
        ax_img.set_title(f"true: {_name(labels[i], class_names)}" if labels is not None
                         else f"#{i}", fontsize=9)
        ax_cam.imshow(overlay(x[i], heat[i], alpha=alpha))
        text = f"pred: {_name(pred[i], class_names)} ({probs[i, pred[i]]:.2f})"
        if class_index is not None:
            text += f"\ncam for: {_name(np.broadcast_to(class_index, (n,))[i], class_names)}"
        colour = "black" if labels is None or int(labels[i]) == int(pred[i]) else "red"
        ax_cam.set_title(text, fontsize=9, color=colour)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_filters(model: keras.Model | np.ndarray, layer: str | None = None, *,
                 max_filters: int = 32, max_channels: int = 8, cols: int = 8,
                 path: Path | str | None = None, title: str | None = None) -> Figure:
    """A convolution's kernels as images, each stretched to its own min..max.

    A kernel over 1 or 3 input channels (a first layer) is one grey or colour image
    per filter: a template the layer matches against the image. A deeper kernel
    acts on feature maps, not on colours: each row is one filter, each panel one of
    its input channels (the first ``max_channels``), the grey patterns that are hard
    to read.

    Args:
        model: a built model, or kernels shaped (height, width, in, filters).
        layer: the convolution (see ``conv_layers``); None: the first.
        max_filters: filters shown (the first ones; at most 8 rows for a deeper layer).
        max_channels: input channels shown per filter for a deeper layer.
        cols: panels per row for a first layer.
        path, title: as in :func:`plot_gradcam`.

    Raises:
        ValueError: no such convolution, or kernels of another shape.
    """
    from cnnlabs.plots import _finish

    kernel = (np.asarray(model, dtype="float32") if isinstance(model, np.ndarray)
              else filters(model, layer))
    if kernel.ndim != 4:
        raise ValueError(f"Expected kernels shaped (height, width, in, filters); got "
                         f"{kernel.shape}.")
    n = min(kernel.shape[3], _model.positive_int("max_filters", max_filters))
    label = title or (f"{layer or 'first convolution'}: {kernel.shape[3]} filters "
                      f"{kernel.shape[0]}x{kernel.shape[1]}x{kernel.shape[2]}")
    if kernel.shape[2] in (1, 3):
        fig, axes, _, ncols = _grid(n, cols, panel=1.1)
        for j in range(n):
            ax = axes.flat[j]
            ax.imshow(_stretch(kernel[:, :, :, j]), interpolation="nearest")
            ax.set_title(str(j), fontsize=7)
    else:
        shown = min(kernel.shape[2], _model.positive_int("max_channels", max_channels))
        n = min(n, 8)
        fig, axes, _, _ = _grid(n * shown, shown, panel=1.0)
        for j in range(n):
            block = kernel[:, :, :shown, j]
            lo, hi = float(block.min()), float(block.max())
            for c in range(shown):
                ax = axes[j][c]
                ax.imshow((block[:, :, c] - lo) / (hi - lo) if hi > lo else block[:, :, c] * 0,
                          cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"f{j} in{c}", fontsize=6)
    fig.suptitle(label, fontsize=10)
    return _finish(fig, path)


def plot_feature_maps(maps: Any, image: Any | None = None, *, max_channels: int = 32,
                      cols: int = 8, path: Path | str | None = None,
                      title: str | None = None) -> Figure:
    """One image's feature maps (h, w, channels), one panel per channel (the first ones).

    Args:
        maps: (h, w, C), or a batch of one (1, h, w, C) as ``feature_maps`` returns it.
        image: the input image, shown in the first panel.
        max_channels: channels shown.
        cols, path, title: as in :func:`plot_filters`.

    Raises:
        ValueError: maps of another shape (a batch of several images).
    """
    from cnnlabs.plots import _finish

    m = np.asarray(maps, dtype="float32")
    if m.ndim == 4 and len(m) == 1:
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"Expected one image's maps shaped (h, w, C); got {np.shape(maps)} "
                         "(pass maps[i] for image i).")
    n = min(m.shape[-1], _model.positive_int("max_channels", max_channels))
    extra = 0 if image is None else 1
    fig, axes, _, _ = _grid(n + extra, cols, panel=1.3)
    if image is not None:
        axes.flat[0].imshow(_display(image))
        axes.flat[0].set_title("input", fontsize=8)
    for c in range(n):
        ax = axes.flat[c + extra]
        ax.imshow(m[:, :, c], cmap="viridis", interpolation="nearest")
        ax.set_title(f"{c}: max {m[:, :, c].max():.2f}", fontsize=7)
    fig.suptitle(title or f"{m.shape[-1]} feature maps {m.shape[0]}x{m.shape[1]}"
                 + (f" (first {n})" if n < m.shape[-1] else ""), fontsize=10)
    return _finish(fig, path)


def plot_neighbours(queries: Any, gallery: Any, neighbours: Neighbours, *,
                    query_labels: Sequence[int] | None = None,
                    gallery_labels: Sequence[int] | None = None,
                    class_names: Sequence[str] | None = None,
                    path: Path | str | None = None, title: str | None = None) -> Figure:
    """Each query image (first column) and its nearest gallery images, nearest first.

    Args:
        queries: (Q, H, W, C) the query images.
        gallery: (G, H, W, C) the gallery images ``neighbours`` indexes.
        neighbours: from ``nearest_neighbours`` (on pixels or on embeddings).
        query_labels, gallery_labels, class_names: titles (optional).
        path, title: as in :func:`plot_filters`.

    Raises:
        ValueError: as many queries as rows of ``neighbours`` are needed.
    """
    from cnnlabs.plots import _finish

    q = np.asarray(queries)
    idx, dist = np.asarray(neighbours.indices), np.asarray(neighbours.distances)
    if len(q) != len(idx):
        raise ValueError(f"{len(q)} query images for {len(idx)} rows of neighbours.")
    k = idx.shape[1] if idx.ndim == 2 else 0
    fig, axes, _, _ = _grid(max(len(q), 1) * (k + 1), k + 1, panel=1.3)
    for r in range(len(q)):
        axes[r][0].imshow(_display(q[r]))
        axes[r][0].set_title("query" + ("" if query_labels is None
                                        else f": {_name(query_labels[r], class_names)}"),
                             fontsize=8)
        for c in range(k):
            ax = axes[r][c + 1]
            ax.imshow(_display(gallery[idx[r, c]]))
            label = "" if gallery_labels is None else \
                f"{_name(gallery_labels[idx[r, c]], class_names)} "
            ax.set_title(f"{label}d={dist[r, c]:.2f}", fontsize=7)
    fig.suptitle(title or "nearest neighbours", fontsize=10)
    return _finish(fig, path)


def plot_patches(patches: Patches, *, cols: int = 9, path: Path | str | None = None,
                 title: str | None = None) -> Figure:
    """The maximally activating patches, strongest first, titled with their activation."""
    from cnnlabs.plots import _finish

    n = len(patches.patches)
    fig, axes, _, _ = _grid(n, cols, panel=1.2)
    for k in range(n):
        ax = axes.flat[k]
        ax.imshow(_display(patches.patches[k]), interpolation="nearest")
        ax.set_title(f"#{int(patches.image_indices[k])}: {patches.activations[k]:.2f}",
                     fontsize=7)
    size = "x".join(str(s) for s in patches.field.size)
    fig.suptitle(title or f"{n} strongest patches ({size} px receptive field)", fontsize=10)
    return _finish(fig, path)


def plot_attributions(images: Any, maps: Mapping[str, Any], *,
                      labels: Sequence[int] | None = None,
                      class_names: Sequence[str] | None = None, alpha: float | None = None,
                      path: Path | str | None = None, title: str | None = None) -> Figure:
    """Images (first column) next to each method's map, one row per image.

    Maps (N, H, W) with negative values (occlusion) use a red-blue scale centred on
    0; other maps a heat scale, overlaid on the image when ``alpha`` is given; maps
    (N, H, W, C) (guided backpropagation) show as :func:`gradient_image`.

    Args:
        images: (N, H, W, C) the explained images.
        maps: method name -> maps for these images.
        labels, class_names: row titles (optional).
        alpha: overlay weight for non-negative maps (None: the map alone).
        path, title: as in :func:`plot_filters`.

    Raises:
        ValueError: maps for another number of images.
    """
    from cnnlabs.plots import _finish

    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    for name, value in maps.items():
        if len(value) != len(x):
            raise ValueError(f"maps[{name!r}] has {len(value)} maps for {len(x)} images.")
    cols = len(maps) + 1
    fig, axes, _, _ = _grid(max(len(x), 1) * cols, cols, panel=1.6)
    for r in range(len(x)):
        axes[r][0].imshow(_display(x[r]))
        axes[r][0].set_title("image" if labels is None else _name(labels[r], class_names),
                             fontsize=8)
        for c, (name, value) in enumerate(maps.items(), start=1):
            ax = axes[r][c]
            v = np.asarray(value[r], dtype="float32")
            if v.ndim == 3 and v.shape[-1] in (1, 3) and np.ndim(value) == 4:
                ax.imshow(_display(gradient_image(v)[0]))
            elif v.min(initial=0.0) < 0:
                edge = float(np.abs(v).max()) or 1.0
                ax.imshow(v, cmap="RdBu_r", vmin=-edge, vmax=edge)
            elif alpha is not None:
                ax.imshow(overlay(x[r], v / (v.max() or 1.0), alpha=alpha))
            else:
                ax.imshow(v, cmap="inferno")
            if r == 0:
                ax.set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def plot_embedding(points: Any, labels: Sequence[int], *,
                   class_names: Sequence[str] | None = None,
                   path: Path | str | None = None, title: str | None = None) -> Figure:
    """A 2-D map of embeddings (N, 2), one colour per class.

    Raises:
        ValueError: points not shaped (N, 2), or labels of another length.
    """
    from cnnlabs.plots import _figure, _finish

    p = np.asarray(points, dtype="float32")
    y = np.asarray(labels).reshape(-1)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"Expected points shaped (N, 2); got {p.shape}.")
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels for {len(p)} points.")
    fig, axes = _figure(1, 1, (6, 5))
    ax = axes[0, 0]
    for c in np.unique(y):
        keep = y == c
        ax.scatter(p[keep, 0], p[keep, 1], s=6, alpha=0.7, label=_name(c, class_names))
    if len(y):
        ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set_title(title or f"{len(p)} embeddings in 2-D")
    return _finish(fig, path)


def plot_images(images: Any, titles: Sequence[str] | None = None, *, cols: int = 5,
                path: Path | str | None = None, title: str | None = None) -> Figure:
    """Images of any value range (class models, DeepDream), each stretched to its min..max."""
    from cnnlabs.plots import _finish

    x = np.asarray(images, dtype="float32")
    if x.ndim == 3:
        x = x[None]
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"{len(titles)} titles for {len(x)} images.")
    fig, axes, _, _ = _grid(len(x), cols, panel=1.6)
    for k in range(len(x)):
        axes.flat[k].imshow(_stretch(x[k]))
        if titles is not None:
            axes.flat[k].set_title(str(titles[k]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)
