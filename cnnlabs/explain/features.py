"""What the layers hold: filters, feature maps, embeddings, neighbours, receptive fields, patches.

* :func:`filters`: a convolution's kernels, to show as images (the first layer's
  read as templates; deeper ones act on feature maps, not pixels, and are hard to read).
* :func:`feature_maps`: one layer's activations for some images.
* :func:`embeddings` and :func:`nearest_neighbours`: the last hidden layer as a
  feature vector, and the closest images in pixel space or in feature space.
* :func:`receptive_field` and :func:`max_activating_patches`: which input square
  one unit of a layer sees (sizes from :func:`cnnlabs.arithmetic.receptive_field`),
  and the squares that excite one channel most (Springenberg et al., 2015).
* :func:`embed_2d`: a 2-D map (PCA or t-SNE from scikit-learn) of feature vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlabs import arithmetic
from cnnlabs.explain import _model
from cnnlabs.explain._model import chunks, positive_int

if TYPE_CHECKING:
    import keras


# --------------------------------------------------------------------------- filters


def _has_kernel(layer: Any) -> bool:
    kernel = getattr(layer, "kernel", None) if not _model.is_nested(layer) else None
    try:
        return kernel is not None and len(kernel.shape) == 4
    except (AttributeError, TypeError, ValueError):
        return False


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the layers with a 4-D kernel (convolutions), in order, nested models included.

    Raises:
        ValueError: the model has not been built (the message says how to build it).
    """
    _model.built_or_build(model)
    return _model.candidates(model, _has_kernel)


def filters(model: keras.Model, layer: str | None = None) -> np.ndarray:
    """The kernels of a convolutional layer: float32 (height, width, in channels, filters).

    Args:
        model: a built Keras model.
        layer: a layer name (see :func:`conv_layers`); None: the first convolution.

    Raises:
        ValueError: no such convolution (the message lists them), or an unbuilt model.
    """
    names = conv_layers(model)
    if not names:
        raise ValueError(f"Model {model.name!r} has no convolutional layer (a 4-D kernel).")
    outer, inner = _model.locate(model, names[0] if layer is None else layer, _has_kernel,
                                 kind="convolutional")
    return np.asarray((inner or outer).kernel, dtype="float32")


# --------------------------------------------------------------------------- activations


def feature_maps(model: keras.Model, images: Any, layer: str | None = None, *,
                 batch_size: int = 128) -> np.ndarray:
    """The activations of one 4-D layer for each image: float32 (N, h, w, channels).

    Args:
        model: a Keras CNN (Sequential, Functional, or a transfer model).
        images: one image (H, W, C) or a batch (N, H, W, C), scaled as the model expects.
        layer: a layer with a 4-D output (inside a nested backbone too); None: the
            first convolution.
        batch_size: images per forward pass.

    Raises:
        ValueError: bad images, or no such 4-D layer (the message lists them).
    """
    x = _model.as_batch(model, images)
    if layer is None:
        names = _model.candidates(model, _has_kernel)
        if not names:
            raise ValueError(f"Model {model.name!r} has no convolutional layer; name a "
                             f"4-D layer: {_model.candidate_text(model)}.")
        layer = names[0]
    target = _model.locate(model, layer)
    run = _model.forward(model, target, scores=False)
    shape = tuple(int(d) for d in (target[1] or target[0]).output.shape[1:3])
    parts = [np.asarray(run(x[p]).feature, dtype="float32")
             for p in chunks(len(x), positive_int("batch_size", batch_size))]
    if not parts:
        channels = int((target[1] or target[0]).output.shape[-1])
        return np.zeros((0, *shape, channels), "float32")
    return np.concatenate(parts)


def embeddings(model: keras.Model, images: Any, layer: str | None = None, *,
               batch_size: int = 256) -> np.ndarray:
    """Feature vectors: the last hidden layer (the input of the last layer), flattened.

    Args:
        model, images, batch_size: as in :func:`feature_maps`.
        layer: another layer to take instead (its output, flattened).

    Returns:
        float32 (N, D).
    """
    x = _model.as_batch(model, images)
    if layer is None:
        run = _model.forward(model)
        pick = "embedding"
        shape = _model._graph_input(_model.top_layers(model)[-1]).shape
    else:
        target = _model.locate(model, layer, lambda lyr: (_model.output_rank(lyr) or 0) >= 2,
                               kind="hidden")
        run = _model.forward(model, target, scores=False)
        pick = "feature"
        shape = (target[1] or target[0]).output.shape
    parts = []
    for p in chunks(len(x), positive_int("batch_size", batch_size)):
        value = np.asarray(getattr(run(x[p]), pick), dtype="float32")
        parts.append(value.reshape(len(value), -1))
    if not parts:
        return np.zeros((0, int(np.prod([d or 0 for d in shape[1:]]))), "float32")
    return np.concatenate(parts)


@dataclass
class Neighbours:
    """The ``k`` nearest gallery items of each query, nearest first.

    Attributes:
        indices: (Q, k) gallery indices.
        distances: (Q, k) Euclidean distances.
    """

    indices: np.ndarray
    distances: np.ndarray


def nearest_neighbours(queries: Any, gallery: Any, k: int = 5, *,
                       chunk: int = 2048) -> Neighbours:
    """The ``k`` gallery items closest to each query (Euclidean distance, ties: lower index).

    Works on anything flattened to vectors: images (pixel space) or
    :func:`embeddings` (feature space). A query that is itself in the gallery comes
    first, at distance exactly 0.

    Args:
        queries: (Q, ...) items, or one item shaped like one gallery item.
        gallery: (G, ...) items.
        k: neighbours per query, at most G.
        chunk: gallery items compared at a time (bounds the memory).

    Raises:
        ValueError: an empty gallery, k out of 1..G, shapes that do not match, NaN.
    """
    g = np.asarray(gallery, dtype="float64")
    q = np.asarray(queries, dtype="float64")
    if g.ndim < 1 or len(g) == 0:
        raise ValueError("The gallery is empty: there is nothing to find neighbours among.")
    if q.shape == g.shape[1:]:
        q = q[None]
    if q.shape[1:] != g.shape[1:]:
        raise ValueError(f"Queries {q.shape[1:]} and gallery items {g.shape[1:]} differ in "
                         "shape; compare like with like (images with images, embeddings "
                         "with embeddings of the same layer).")
    k = positive_int("k", k)
    if k > len(g):
        raise ValueError(f"k={k} but the gallery holds {len(g)} items.")
    if not (np.isfinite(g).all() and np.isfinite(q).all()):
        raise ValueError("queries or gallery hold NaN or infinite values.")
    width = int(np.prod(g.shape[1:]))
    q, g = q.reshape(len(q), width), g.reshape(len(g), width)
    if len(q) == 0:
        return Neighbours(np.zeros((0, k), "int64"), np.zeros((0, k), "float32"))
    # Rank by |q|^2 - 2 q.g + |g|^2 a chunk at a time, then measure the k winners exactly.
    best = np.zeros((len(q), 0), "int64")
    best_d = np.zeros((len(q), 0))
    q2 = (q ** 2).sum(axis=1, keepdims=True)
    for part in chunks(len(g), positive_int("chunk", chunk)):
        d = q2 - 2.0 * q @ g[part].T + (g[part] ** 2).sum(axis=1)
        idx = np.concatenate([best, np.arange(part.start, part.stop)[None].repeat(len(q), 0)], 1)
        dist = np.concatenate([best_d, d], axis=1)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(idx, order, axis=1)
        best_d = np.take_along_axis(dist, order, axis=1)
    exact = np.sqrt(((q[:, None, :] - g[best]) ** 2).sum(axis=-1))
    order = np.lexsort((best, exact), axis=1)
    return Neighbours(np.take_along_axis(best, order, axis=1),
                      np.take_along_axis(exact, order, axis=1).astype("float32"))


# --------------------------------------------------------------------------- receptive fields

_CONV = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
_POOL = ("MaxPooling2D", "AveragePooling2D")
_WHOLE = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense", "Reshape")


@dataclass(frozen=True)
class _Step:
    name: str
    kind: str  # "window" (convolution, pooling) or "pad" (explicit zeros or cropping)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "valid"
    before: tuple[int, int] = (0, 0)  # explicit zeros (ZeroPadding2D; Cropping2D < 0)
    after: tuple[int, int] = (0, 0)


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if np.ndim(value) == 0 else (int(value[0]), int(value[1]))


class _Global(ValueError):
    """A layer on the path pools over all positions (its units see the whole image)."""


def _step(layer: Any) -> _Step | None:
    """The layer's effect on positions, or None when it keeps them as they are."""
    kind = layer.__class__.__name__
    if kind in _CONV:
        return _Step(layer.name, "window", _pair(layer.kernel_size), _pair(layer.strides),
                     _pair(layer.dilation_rate), str(layer.padding).lower())
    if kind in _POOL:
        return _Step(layer.name, "window", _pair(layer.pool_size), _pair(layer.strides),
                     padding=str(layer.padding).lower())
    if kind in ("ZeroPadding2D", "Cropping2D"):
        amounts = layer.padding if kind == "ZeroPadding2D" else layer.cropping
        (top, bottom), (left, right) = amounts
        sign = 1 if kind == "ZeroPadding2D" else -1
        return _Step(layer.name, "pad", before=(sign * top, sign * left),
                     after=(sign * bottom, sign * right))
    if kind in _WHOLE or _model.output_rank(layer) not in (None, 4):
        raise _Global(f"Layer {layer.name!r} ({kind}) mixes all positions: the units after "
                      "it see the whole image, so they have no receptive field to show.")
    try:
        same = tuple(layer.input.shape[1:3]) == tuple(layer.output.shape[1:3])
    except (AttributeError, ValueError):
        same = True  # several inputs (Add, Concatenate): they share one grid
    if not same:
        raise ValueError(f"Layer {layer.name!r} ({kind}) resamples its input; receptive "
                         "fields are computed for convolutions, pooling and padding only.")
    return None


def _size(steps: list[_Step]) -> int:
    specs = [(s.kernel[0], s.stride[0], s.dilation[0]) for s in steps if s.kind == "window"]
    return arithmetic.receptive_field(specs)[-1].size if specs else 1


def _path_to(tensor: Any, memo: dict[int, list[_Step] | _Global]) -> list[_Step]:
    """The steps along the input -> ``tensor`` path with the largest receptive field.

    Branches that pool over the whole image (squeeze-and-excitation gates) are left
    out; when every branch does, the :class:`_Global` error says which layer.
    """
    key = id(tensor)
    if key not in memo:
        try:
            memo[key] = _walk_back(tensor, memo)
        except _Global as exc:
            memo[key] = exc
    found = memo[key]
    if isinstance(found, _Global):
        raise found
    return found


def _walk_back(tensor: Any, memo: dict[int, list[_Step] | _Global]) -> list[_Step]:
    layer, node_index, _ = tensor._keras_history
    if layer.__class__.__name__ == "InputLayer":
        return []
    paths, failure = [], None
    for source in layer._inbound_nodes[node_index].input_tensors:
        try:
            paths.append(_path_to(source, memo))
        except _Global as exc:
            failure = exc
    if not paths and failure is not None:
        raise failure
    return (max(paths, key=_size) if paths else []) + _own_steps(layer)


def _own_steps(layer: Any) -> list[_Step]:
    """The steps of one layer: its own, or those of the model it is."""
    if _model.is_nested(layer):
        return _inner_path(layer, layer.outputs[0])
    step = _step(layer)
    return [] if step is None else [step]


def _inner_path(container: Any, tensor: Any) -> list[_Step]:
    """The steps inside the model ``container`` from its input to ``tensor``."""
    if _model.is_sequential(container):
        steps: list[_Step] = []
        for lyr in _model.top_layers(container):
            steps += _own_steps(lyr)
            if lyr.output is tensor:
                break
        return steps
    return _path_to(tensor, {})


@dataclass(frozen=True)
class Field:
    """Where the units of one layer look in the input image.

    Unit ``(i, j)`` of the layer sees the input square with top-left corner
    ``(offset[0] + i * jump[0], offset[1] + j * jump[1])`` and side ``size``; parts
    outside the image are the zeros of ``padding="same"``.

    Attributes:
        size: (rows, columns) of the square: ``arithmetic.receptive_field`` along the path.
        jump: input pixels between neighbouring units (the product of the strides).
        offset: input position of the first unit's square (negative: in the padding).
        layers: the convolution and pooling layers on the path, in order.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    offset: tuple[int, int]
    layers: tuple[str, ...]


def receptive_field(model: keras.Model, layer: str,
                    image_size: Sequence[int] | None = None) -> Field:
    """The receptive field of the units of ``layer`` (see :class:`Field`).

    Along a branching graph (a ResNet) the path with the largest field counts. The
    sizes come from :func:`cnnlabs.arithmetic.receptive_field`; the offset from the
    "same" paddings, which depend on the image size.

    Args:
        model: a built Keras model.
        layer: a 4-D layer (inside a nested backbone too).
        image_size: (height, width) of the input; None: the model's own.

    Raises:
        ValueError: an unknown layer, a layer after flatten / global pooling, a
            resampling layer on the way, or an unknown image size.
    """
    _model.built_or_build(model)
    outer, inner = _model.locate(model, layer)
    if _model.is_sequential(model) or inner is not None:
        steps: list[_Step] = []
        for lyr in _model._chain(model):  # a layer inside a nested model: a chain to it
            if lyr is outer and inner is not None:
                steps += _inner_path(outer, inner.output)
                break
            steps += _own_steps(lyr)
            if lyr is outer:
                break
    else:
        steps = _path_to(_model._graph_output(outer), {})
    shape = image_size if image_size is not None else (_model.input_shape(model) or (None,))[:2]
    if len(shape) != 2 or any(d is None for d in shape):
        raise ValueError(f"The image size of {model.name!r} is not fixed; pass image_size.")
    size, jump, offset = [], [], []
    for axis in (0, 1):
        n, start, step_jump, specs = int(shape[axis]), 0, 1, []
        for s in steps:
            if s.kind == "pad":
                start -= s.before[axis] * step_jump
                n += s.before[axis] + s.after[axis]
                continue
            k, st, d = s.kernel[axis], s.stride[axis], s.dilation[axis]
            if s.padding == "same":
                start -= arithmetic.same_padding_amounts(n, k, st, d)[0] * step_jump
            n = arithmetic.output_size(n, k, st, s.padding, d)
            step_jump *= st
            specs.append((k, st, d))
        fields = arithmetic.receptive_field(specs) if specs else []
        size.append(fields[-1].size if fields else 1)
        jump.append(fields[-1].jump if fields else 1)
        offset.append(start)
    return Field(tuple(size), tuple(jump), tuple(offset), tuple(s.name for s in steps))


@dataclass
class Patches:
    """The image squares that excite one channel most, strongest first (one per image).

    Attributes:
        patches: (k, rows, columns, C): the receptive field of the strongest unit
            in each image (zeros where it reaches past the image edge).
        activations: (k,) the unit's activation, in decreasing order.
        image_indices: (k,) which image each patch comes from.
        positions: (k, 2) the unit's (row, column) in the layer's map.
        boxes: (k, 4) ``(top, left, bottom, right)`` in input pixels, bottom/right
            excluded (may reach past the image: see ``patches``).
        field: the layer's :class:`Field`.
    """

    patches: np.ndarray
    activations: np.ndarray
    image_indices: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    field: Field


def max_activating_patches(model: keras.Model, images: Any, layer: str, channel: int, *,
                           top: int = 9, batch_size: int = 128) -> Patches:
    """The ``top`` images' squares whose unit excites ``channel`` of ``layer`` most.

    Each image's strongest unit of the channel is found; the ``top`` strongest
    images give their unit's receptive field (:func:`receptive_field`) as a patch.
    Deeper layers have larger fields and respond to larger parts of objects.

    Args:
        model, images, batch_size: as in :func:`feature_maps`.
        layer: a 4-D layer.
        channel: the channel of that layer.
        top: patches to return (fewer when there are fewer images).

    Raises:
        ValueError: bad images, an unknown layer, a channel out of range, or a layer
            without a receptive field (see :func:`receptive_field`).
    """
    x = _model.as_batch(model, images)
    outer, inner = _model.locate(model, layer)
    channels = int((inner or outer).output.shape[-1])
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel < channels:
        raise ValueError(f"channel must be a whole number in 0..{channels - 1} (layer "
                         f"{layer!r} has {channels} channels); got {channel!r}.")
    top = positive_int("top", top)
    field = receptive_field(model, layer, x.shape[1:3])
    run = _model.forward(model, (outer, inner), scores=False)
    values = np.zeros(len(x), "float32")
    positions = np.zeros((len(x), 2), "int64")
    for p in chunks(len(x), positive_int("batch_size", batch_size)):
        maps = np.asarray(run(x[p]).feature, dtype="float32")[..., int(channel)]
        flat = maps.reshape(len(maps), -1).argmax(axis=1)
        values[p] = maps.reshape(len(maps), -1)[np.arange(len(maps)), flat]
        positions[p] = np.stack(np.unravel_index(flat, maps.shape[1:]), axis=1)
    order = np.argsort(-values, kind="stable")[:top]
    rows, cols = field.size
    patches = np.zeros((len(order), rows, cols, x.shape[-1]), "float32")
    boxes = np.zeros((len(order), 4), "int64")
    height, width = x.shape[1:3]
    for k, i in enumerate(order):
        r0 = field.offset[0] + positions[i, 0] * field.jump[0]
        c0 = field.offset[1] + positions[i, 1] * field.jump[1]
        boxes[k] = (r0, c0, r0 + rows, c0 + cols)
        top_, left = max(r0, 0), max(c0, 0)
        bottom, right = min(r0 + rows, height), min(c0 + cols, width)
        if bottom > top_ and right > left:
            patches[k, top_ - r0:bottom - r0, left - c0:right - c0] = x[i, top_:bottom, left:right]
    return Patches(patches, values[order], order.astype("int64"), positions[order], boxes, field)


# --------------------------------------------------------------------------- 2-D maps


def embed_2d(features: Any, method: str = "pca", *, seed: int = 0, perplexity: float = 30.0,
             max_iter: int = 500) -> np.ndarray:
    """A 2-D map of feature vectors (N, ...) -> (N, 2), by PCA or t-SNE (scikit-learn).

    PCA keeps the two directions of largest variance (linear, fast, the same map for
    new points); t-SNE keeps neighbourhoods (non-linear, slower: a few hundred points
    take seconds, thousands minutes on a laptop CPU; distances between clusters mean
    little). Vectors longer than 50 are first reduced to 50 by PCA for t-SNE.

    Args:
        features: (N, ...) vectors, e.g. :func:`embeddings`.
        method: ``"pca"`` or ``"tsne"``.
        seed: seeds t-SNE (and PCA's solver).
        perplexity: t-SNE's neighbourhood size, capped below N / 3.
        max_iter: t-SNE's iterations (at least 250).

    Raises:
        ValueError: fewer than 2 vectors (3 for t-SNE), NaN, or an unknown method.
    """
    f = np.asarray(features, dtype="float64")
    if f.ndim < 2:
        raise ValueError(f"Expected feature vectors shaped (N, D); got {f.shape}.")
    f = f.reshape(len(f), -1)
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne'; got {method!r}.")
    if len(f) < (3 if method == "tsne" else 2):
        raise ValueError(f"A 2-D map needs at least {3 if method == 'tsne' else 2} vectors; "
                         f"got {len(f)}.")
    if not np.isfinite(f).all():
        raise ValueError("features hold NaN or infinite values.")
    if method == "pca":
        from sklearn.decomposition import PCA

        if f.shape[1] < 2:
            return np.concatenate([f - f.mean(0), np.zeros_like(f)], axis=1).astype("float32")
        return PCA(n_components=2, random_state=seed).fit_transform(f).astype("float32")
    from sklearn.manifold import TSNE

    if f.shape[1] > 50 and len(f) > 50:
        from sklearn.decomposition import PCA

        f = PCA(n_components=50, random_state=seed).fit_transform(f)
    capped = float(min(perplexity, max((len(f) - 1) / 3.0, 1.0)))
    tsne = TSNE(n_components=2, perplexity=capped, init="pca", random_state=seed,
                max_iter=max(250, positive_int("max_iter", max_iter)))
    return tsne.fit_transform(f).astype("float32")
