"""He et al.'s plain and residual CIFAR networks (the degradation demonstration)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnlabs import models
from cnnlabs.arithmetic import conv_params, dense_params


def expected_params(depth: int, residual: bool) -> int:
    """Count a 6n+2 network from the architecture, without building it."""
    n = (depth - 2) // 6
    convs = conv_params(3, 3, 16, bias=False)
    channels = [16]
    in_ch = 16
    for filters in (16, 32, 64):
        for _ in range(n):
            convs += conv_params(3, in_ch, filters, bias=False) + conv_params(3, filters, filters,
                                                                              bias=False)
            channels += [filters, filters]
            if residual and in_ch != filters:
                convs += conv_params(1, in_ch, filters, bias=False)
                channels.append(filters)
            in_ch = filters
    return convs + 4 * sum(channels) + dense_params(64, 10)


@pytest.mark.parametrize(
    ("name", "depth", "residual", "params"),
    [("plain20", 20, False, 271_098), ("resnet20", 20, True, 274_042),
     ("plain56", 56, False, 857_082), ("resnet56", 56, True, 860_026)],
)
def test_counts_match_the_architecture(name, depth, residual, params):
    assert expected_params(depth, residual) == params
    model = models.build(name, (32, 32, 3), 10)
    assert model.count_params() == params
    weighted = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D,
                                                                      keras.layers.Dense))]
    assert len(weighted) == depth + (2 if residual else 0)
    assert model.output_shape == (None, 10)


def test_only_the_residual_network_adds_shortcuts():
    plain = models.build("plain20", (32, 32, 3), 10)
    residual = models.build("resnet20", (32, 32, 3), 10)
    assert not [layer for layer in plain.layers if isinstance(layer, keras.layers.Add)]
    assert len([layer for layer in residual.layers if isinstance(layer, keras.layers.Add)]) == 9


def test_depth_must_be_6n_plus_2():
    from cnnlabs.models.plainnet import plain_cifar
    from cnnlabs.models.resnet import resnet_cifar_he

    with pytest.raises(ValueError, match="6n \\+ 2"):
        plain_cifar((32, 32, 3), 10, depth=21)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet_cifar_he((32, 32, 3), 10, depth=21)


def test_a_training_step_runs():
    model = models.build("resnet20", (16, 16, 3), 4)
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True)
    loss = model.train_on_batch(np.random.default_rng(0).random((4, 16, 16, 3)), np.arange(4))
    assert np.isfinite(loss)
