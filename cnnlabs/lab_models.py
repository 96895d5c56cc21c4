"""The course networks a lab looks inside, trained small once and loaded after that.

Lab 09 ("what a CNN sees") explains networks trained earlier in the course:
LeNet on MNIST, MiniVGGNet on CIFAR-10 and the PneumoniaMNIST network. It needs
them trained, but not to their published accuracy: :func:`course_model` trains
each on the profile's ``demo_samples`` training images for a few epochs (the
model's own recipe, its epochs capped by :data:`COURSE_MODELS`) through
:func:`cnnlabs.run.train`, into a run folder that stays the same
(:func:`cnnlabs.config.lab_run_dir`). Running the lab again loads the finished
model from there instead of training it again; an interrupted training resumes.

>>> from cnnlabs import lab_models
>>> lenet = lab_models.course_model("lenet", "cpu")     # doctest: +SKIP
>>> lenet.model, lenet.splits.x_test, lenet.report.accuracy  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnnlabs import config
from cnnlabs.config import Profile

if TYPE_CHECKING:
    from cnnlabs.run import Run


@dataclass(frozen=True)
class CourseModel:
    """One course network as a lab trains it.

    Attributes:
        name: the name :func:`course_model` takes.
        model: the ``models.build`` name.
        dataset: the catalogue name of its dataset.
        epochs: the most epochs a lab trains it for (the recipe's count when lower).
        lab: the lab whose run folders these are (``lab09-<name>-<profile>``).
    """

    name: str
    model: str
    dataset: str
    epochs: int
    lab: str = "lab09"


#: name -> :class:`CourseModel`: the networks lab 09 explains.
COURSE_MODELS: dict[str, CourseModel] = {
    spec.name: spec for spec in (
        CourseModel("lenet", "lenet", "mnist", epochs=3),
        CourseModel("minivggnet", "minivggnet", "cifar10", epochs=5),
        CourseModel("pneumonia", "resnet_medmnist", "pneumoniamnist", epochs=6),
    )
}


def course_model(name: str, profile: str | Profile | None = None, *, seed: int = 42,
                 verbose: int = 2, log: Callable[[str], None] | None = print) -> Run:
    """A course network trained small for a lab, or loaded when its run folder holds it.

    Args:
        name: one of :data:`COURSE_MODELS` (``"lenet"``, ``"minivggnet"``, ``"pneumonia"``).
        profile: a :class:`~cnnlabs.config.Profile`, its name, or None for the default.
        seed: seeds the subsample, the weights and the data order.
        verbose: Keras' verbosity while training (2: one line per epoch).
        log: where :func:`cnnlabs.run.train` reports (None: nowhere).

    Returns:
        The :class:`~cnnlabs.run.Run`: ``model``, ``splits`` (the subsampled training
        set, the profile's test set), ``report`` on the test set, ``run_dir``.

    Raises:
        ValueError: an unknown name (the message lists the names).
        DatasetError: the data cannot be loaded (the message says what to do).
    """
    from cnnlabs import datasets, recipes, run

    spec = COURSE_MODELS.get(str(name).lower())
    if spec is None:
        raise ValueError(f"Unknown course model {name!r}; choose one of "
                         f"{', '.join(COURSE_MODELS)}.")
    chosen = config.get_profile(profile)
    splits = datasets.load(spec.dataset, chosen, seed=seed)
    splits = datasets.subsample(splits, chosen.demo_samples, None, seed=seed,
                                reason=f"profile {chosen.name}, {spec.lab}")
    epochs = min(recipes.recipe(spec.model, chosen, spec.dataset).epochs, spec.epochs)
    return run.train(spec.model, splits, profile=chosen, seed=seed, epochs=epochs,
                     out=config.lab_run_dir(f"{spec.lab}-{spec.name}", chosen),
                     reuse_finished=True, plot=False, verbose=verbose, log=log)
