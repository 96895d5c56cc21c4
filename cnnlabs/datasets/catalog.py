"""The dataset catalogue: metadata as data.

Everything cnnlabs knows about a dataset - where it comes from, its checksum,
class names, image shape, split sizes, licence, citation and where it lives in
the cache - is one :class:`DatasetInfo` entry in :data:`CATALOG`. Loaders,
error messages, ``cnnlabs data fetch`` and ``data/README.md`` all read from
here, so a URL or a checksum is written down exactly once.

To add a dataset (MedMNIST and the chest X-rays come with later labs), add an entry
here and a loader module ``cnnlabs/datasets/<loader>.py`` exposing
``load(info, profile, folder, *, seed)``, ``validate(path, info)`` and
``read(path, info)``; then document its cache layout in ``data/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogue entry.

    Attributes:
        name: the catalogue key, used by ``datasets.load(name)`` and the CLI.
        title: a human-readable title.
        filename: the file's name inside the cache folder.
        url: the official download location.
        sha256: SHA-256 of the official file (``None`` when the source publishes none).
        size_bytes: size of the official file in bytes, when known.
        class_names: one name per class index, in label order.
        image_shape: ``(H, W, C)`` of one image as the loader returns it.
        train_size: number of images in the official training split.
        test_size: number of images in the official test split.
        val_size: number of images in the official validation split (``None``: none ships).
        licence: the licence and its holders.
        citation: the reference to cite.
        homepage: where the dataset is described.
        layout: how the file in the cache must look; quoted by error messages.
        loader: the module in ``cnnlabs.datasets`` that reads this entry.
    """

    name: str
    title: str
    filename: str
    url: str
    sha256: str | None
    size_bytes: int | None
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    train_size: int
    test_size: int
    val_size: int | None
    licence: str
    citation: str
    homepage: str
    layout: str
    loader: str

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    @property
    def split_sizes(self) -> dict[str, int]:
        """Official split sizes by split name (only the splits that ship)."""
        sizes = {"train": self.train_size, "test": self.test_size}
        if self.val_size is not None:
            sizes["val"] = self.val_size
        return sizes

    def cache_path(self, folder: Path) -> Path:
        """Where this dataset's file lives inside the cache ``folder``."""
        return Path(folder) / self.filename


MNIST = DatasetInfo(
    name="mnist",
    title="MNIST handwritten digits",
    filename="mnist.npz",
    # The file and checksum Keras itself uses (keras/src/datasets/mnist.py).
    url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    size_bytes=11_490_434,
    class_names=tuple(str(digit) for digit in range(10)),
    image_shape=(28, 28, 1),
    train_size=60_000,
    test_size=10_000,
    val_size=None,
    licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
    citation=(
        "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner. Gradient-based learning applied "
        "to document recognition. Proceedings of the IEEE, 86(11):2278-2324, 1998."
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
    layout=(
        "an .npz archive with Keras' keys: x_train (60000, 28, 28) uint8, "
        "y_train (60000,) integers 0-9, x_test (10000, 28, 28) uint8, "
        "y_test (10000,) integers 0-9"
    ),
    loader="mnist",
)

CIFAR10 = DatasetInfo(
    name="cifar10",
    title="CIFAR-10 tiny images",
    # The official "python version" archive, the one Keras downloads
    # (keras/src/datasets/cifar10.py, same SHA-256). It unpacks to cifar-10-batches-py/.
    filename="cifar-10-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    size_bytes=170_498_071,
    # Official label order (batches.meta); sorted alphabetically it is the same order.
    class_names=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    image_shape=(32, 32, 3),
    train_size=50_000,
    test_size=10_000,
    val_size=None,
    licence=(
        "no licence stated; the authors (Alex Krizhevsky, Vinod Nair and Geoffrey Hinton) "
        "ask that work using the dataset cite the technical report"
    ),
    citation=(
        "A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images. "
        "Technical report, University of Toronto, 2009."
    ),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    layout=(
        "either the official python batches, cifar-10-batches-py/ holding data_batch_1 ... "
        "data_batch_5 and test_batch (10000 images each: b'data' (10000, 3072) uint8, "
        "b'labels' 0-9) and batches.meta; or image folders cifar10/train/<class>/*.png|*.jpg "
        "and cifar10/test/<class>/*.png|*.jpg with one folder per class, named airplane, "
        "automobile, bird, cat, deer, dog, frog, horse, ship, truck"
    ),
    loader="cifar10",
)

#: Every dataset cnnlabs can load, by name.
CATALOG: dict[str, DatasetInfo] = {
    MNIST.name: MNIST,
    CIFAR10.name: CIFAR10,
}
