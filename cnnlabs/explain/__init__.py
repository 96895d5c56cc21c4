"""What a CNN sees: filters, feature maps, neighbours, attributions and synthesised images.

The methods of the visualisation lecture, for any Keras CNN: a Sequential model
(built from a ``keras.Input`` or not), a Functional model, or a transfer model
whose ``keras.applications`` backbone is a nested model (its inner layers can be
named as targets).

Inside the network (:mod:`~cnnlabs.explain.features`)
    :func:`filters`, :func:`conv_layers`, :func:`feature_maps`, :func:`embeddings`,
    :func:`nearest_neighbours`, :func:`receptive_field`,
    :func:`max_activating_patches`, :func:`embed_2d`.
Which pixels matter (:mod:`~cnnlabs.explain.attributions`)
    :func:`gradients`, :func:`saliency`, :func:`smoothgrad`, :func:`guided_backprop`,
    :func:`integrated_gradients` (with its completeness gap), :func:`occlusion`,
    :func:`gradcam`, :func:`gradcam_plus_plus`, :func:`heatmap`.
Images made by gradient ascent (:mod:`~cnnlabs.explain.synthesis`)
    :func:`class_model`, :func:`deepdream`.
Figures (:mod:`~cnnlabs.explain.figures`)
    :func:`overlay`, :func:`gradient_image` and the ``plot_*`` functions.

The class score explained is the logit (the input of a final softmax); images are
fed as the model expects them (for transfer models: raw 0-255 pixels).
"""

from cnnlabs.explain._model import find_layer
from cnnlabs.explain.attributions import (
    IntegratedGradients,
    gradcam,
    gradcam_plus_plus,
    gradients,
    guided_backprop,
    heatmap,
    integrated_gradients,
    normalise_maps,
    occlusion,
    saliency,
    smoothgrad,
)
from cnnlabs.explain.features import (
    Field,
    Neighbours,
    Patches,
    conv_layers,
    embed_2d,
    embeddings,
    feature_maps,
    filters,
    max_activating_patches,
    nearest_neighbours,
    receptive_field,
)
from cnnlabs.explain.figures import (
    _display as _display,  # re-exported for the tests of the display scaling
)
from cnnlabs.explain.figures import (
    gradient_image,
    overlay,
    plot_attributions,
    plot_embedding,
    plot_feature_maps,
    plot_filters,
    plot_gradcam,
    plot_images,
    plot_neighbours,
    plot_patches,
)
from cnnlabs.explain.synthesis import Synthesis, class_model, deepdream

__all__ = [
    "Field", "IntegratedGradients", "Neighbours", "Patches", "Synthesis",
    "class_model", "conv_layers", "deepdream", "embed_2d", "embeddings", "feature_maps",
    "filters", "find_layer", "gradcam", "gradcam_plus_plus", "gradient_image", "gradients",
    "guided_backprop", "heatmap", "integrated_gradients", "max_activating_patches",
    "nearest_neighbours", "normalise_maps", "occlusion", "overlay", "plot_attributions",
    "plot_embedding", "plot_feature_maps", "plot_filters", "plot_gradcam", "plot_images",
    "plot_neighbours", "plot_patches", "receptive_field", "saliency", "smoothgrad",
]
