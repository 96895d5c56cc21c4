"""The dataset catalogue: metadata as data.

Everything cnnlabs knows about a dataset - where it comes from, its checksum,
class names, image shape, split sizes, licence, citation and where it lives in
the cache - is one :class:`DatasetInfo` entry in :data:`CATALOG`. Loaders,
error messages, ``cnnlabs data fetch`` and ``data/README.md`` all read from
here, so a URL or a checksum is written down exactly once.

To add a dataset, add an entry here and a loader module
``cnnlabs/datasets/<loader>.py`` exposing ``load(info, profile, folder, *, seed)``
(built on :func:`cnnlabs.datasets.cache.resolve`), ``cached(info, folder)``
(the copy it would read), ``validate(path, info)`` (its checks, without
decoding images) and ``read(path, info)``; then document its cache layout in
``data/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnlabs.datasets.medmnist_info import CITATION as MEDMNIST_CITATION
from cnnlabs.datasets.medmnist_info import HOMEPAGE as MEDMNIST_HOMEPAGE
from cnnlabs.datasets.medmnist_info import MEDMNIST


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
        md5: MD5 of the official file, for sources that publish MD5 rather than
            SHA-256 (MedMNIST); ``None`` otherwise.
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
    md5: str | None = None

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

#: The Kaggle chest X-rays. A folder of JPEGs, not an array file: ``datasets.load``
#: returns it as file lists (:func:`cnnlabs.datasets.chest_xray.load`), which the
#: tf.data pipeline decodes. ``cnnlabs data fetch chest_xray`` is a Kaggle download.
CHEST_XRAY = DatasetInfo(
    name="chest_xray",
    title="Chest X-ray images, pneumonia (Kaggle, Kermany et al. 2018)",
    filename="chest_xray",  # a folder in the cache
    url="https://www.kaggle.com/datasets/paultimothymooney/chest-xray-pneumonia",
    sha256=None,
    size_bytes=None,
    class_names=("NORMAL", "PNEUMONIA"),
    image_shape=(224, 224, 3),
    train_size=5216,
    test_size=624,
    val_size=16,
    licence="CC BY 4.0 (Kermany, Zhang and Goldbaum; Mendeley Data)",
    citation=(
        "D. S. Kermany, M. Goldbaum, W. Cai et al. Identifying Medical Diagnoses and "
        "Treatable Diseases by Image-Based Deep Learning. Cell, 172(5):1122-1131, 2018."
    ),
    homepage="https://data.mendeley.com/datasets/rscbjbr9sj/2",
    layout=(
        "a folder chest_xray/ (at any depth; the shallowest folder holding train/NORMAL "
        "is used) with train/NORMAL/*.jpeg, train/PNEUMONIA/*.jpeg, test/NORMAL/*.jpeg, "
        "test/PNEUMONIA/*.jpeg and optionally val/ (ignored); grayscale and RGB JPEGs mixed"
    ),
    loader="chest_xray",
)

#: MNIST digits placed on a 64x64 canvas, with boxes: generated from mnist.npz with a
#: fixed seed (:mod:`cnnlabs.datasets.mnist_detection`) and cached; nothing to download
#: but MNIST itself, whose URL this entry names.
MNIST_DETECTION = DatasetInfo(
    name="mnist_detection",
    title="MNIST digits on a 64x64 canvas, with boxes (generated)",
    filename="mnist_detection",  # a folder in the cache
    url=MNIST.url,
    sha256=None,
    size_bytes=None,
    class_names=MNIST.class_names,
    image_shape=(64, 64, 1),
    train_size=12_000,
    test_size=2_000,
    val_size=None,
    licence=MNIST.licence,
    citation=MNIST.citation,
    homepage=MNIST.homepage,
    layout=(
        "mnist_detection/mnist_detection-<key>.npz, written by cnnlabs from mnist.npz: "
        "x_train (12000, 64, 64, 1) and x_test (2000, 64, 64, 1) uint8, boxes_train and "
        "boxes_test (N, K, 4) float32 pixel boxes x1, y1, x2, y2, classes_train and "
        "classes_test (N, K) integers 0-9, -1 past an image's digits"
    ),
    loader="mnist_detection",
)

#: Every dataset cnnlabs can load, by name.
CATALOG: dict[str, DatasetInfo] = {
    MNIST.name: MNIST,
    CIFAR10.name: CIFAR10,
    CHEST_XRAY.name: CHEST_XRAY,
    MNIST_DETECTION.name: MNIST_DETECTION,
}


def medmnist_entry(flag: str, size: int = 28) -> DatasetInfo:
    """The catalogue entry of MedMNIST v2 dataset ``flag`` at ``size`` px.

    Named ``flag`` at 28 px (the entries in :data:`CATALOG`) and
    ``{flag}_{size}`` otherwise. ``sha256`` is ``None``: MedMNIST publishes MD5
    sums, kept in ``md5``. The data live in :mod:`cnnlabs.datasets.medmnist_info`.
    """
    key = str(flag).strip().lower()
    if key not in MEDMNIST:
        raise ValueError(f"Unknown MedMNIST flag {flag!r}. Valid flags: {', '.join(MEDMNIST)}.")
    meta = MEDMNIST[key]
    filename = meta.filename(size)  # also checks the size
    channels = meta.channels
    image = f"{size}, {size}" + (", 3" if channels == 3 else "")
    if meta.multi_label:
        labels = f"({{n}}, {len(meta.labels)}) of 0/1 (multi-hot, one column per finding)"
    else:
        labels = f"({{n}}, 1) integers 0-{len(meta.labels) - 1}"
    parts = [
        f"{split}_images ({n}, {image}) uint8, {split}_labels " + labels.format(n=n)
        for split, n in (
            ("train", meta.train_size),
            ("val", meta.val_size),
            ("test", meta.test_size),
        )
    ]
    return DatasetInfo(
        name=key if size == 28 else f"{key}_{size}",
        title=f"MedMNIST v2 {meta.title} ({size}x{size})",
        filename=filename,
        url=meta.url(size),
        sha256=None,
        size_bytes=None,
        class_names=meta.labels,
        image_shape=(size, size, channels),
        train_size=meta.train_size,
        test_size=meta.test_size,
        val_size=meta.val_size,
        licence=f"{meta.licence} (MedMNIST v2, Yang et al.; see also the source dataset's terms)",
        citation=MEDMNIST_CITATION,
        homepage=MEDMNIST_HOMEPAGE,
        layout="an .npz archive with MedMNIST's keys: " + "; ".join(parts),
        loader="medmnist",
        md5=meta.md5_for(size),
    )


#: MedMNIST v2 at 28 px, one entry per flag (other sizes: ``medmnist.load_medmnist``).
for _flag in MEDMNIST:
    CATALOG[_flag] = medmnist_entry(_flag)
del _flag
