"""MedMNIST v2 metadata as data: the twelve 2D datasets at 28, 64, 128 and 224 px.

Transcribed from the official MedMNIST v2 release (Zenodo record 10519652;
the ``INFO`` table of the ``medmnist`` package, version 3.0.2): task type,
label names, channels, official split sizes, licence and the MD5 of every
``.npz`` file. MedMNIST publishes MD5 sums, not SHA-256, so that is what is
recorded here. ``cnnlabs.datasets.catalog`` builds its ``DatasetInfo``
entries from this table and ``cnnlabs.datasets.medmnist`` reads the files.

File names: ``{flag}.npz`` at 28 px, ``{flag}_{size}.npz`` otherwise; the
same names are used in the data cache.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The Zenodo record that holds every MedMNIST v2 file.
ZENODO_RECORD = "10519652"
#: Image sizes (square side in pixels) that MedMNIST v2 ships for 2D datasets.
SIZES: tuple[int, ...] = (28, 64, 128, 224)
#: Keys of every MedMNIST ``.npz`` file.
KEYS: tuple[str, ...] = (
    "train_images",
    "train_labels",
    "val_images",
    "val_labels",
    "test_images",
    "test_labels",
)
HOMEPAGE = "https://medmnist.com/"
CITATION = (
    "J. Yang, R. Shi, D. Wei, Z. Liu, L. Zhao, B. Ke, H. Pfister and B. Ni. "
    "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image "
    "classification. Scientific Data, 10(1):41, 2023."
)
#: The task string of the one multi-label dataset (ChestMNIST).
MULTI_LABEL = "multi-label, binary-class"


@dataclass(frozen=True)
class MedMNISTFlag:
    """One MedMNIST v2 2D dataset.

    Attributes:
        flag: the MedMNIST name, e.g. ``"pneumoniamnist"``; also the catalogue name.
        title: a human-readable title.
        task: MedMNIST's task type (``"binary-class"``, ``"multi-class"``,
            ``"ordinal-regression"`` or ``"multi-label, binary-class"``).
        labels: one name per label index (per output column for multi-label).
        channels: 1 (grayscale) or 3 (RGB).
        train_size, val_size, test_size: the official split sizes.
        licence: the licence of the MedMNIST files of this dataset.
        md5: the official MD5 of the file at each size in :data:`SIZES`, in that order.
    """

    flag: str
    title: str
    task: str
    labels: tuple[str, ...]
    channels: int
    train_size: int
    val_size: int
    test_size: int
    licence: str
    md5: tuple[str, ...]

    @property
    def multi_label(self) -> bool:
        """True when each image has several binary labels (ChestMNIST)."""
        return self.task == MULTI_LABEL

    def filename(self, size: int = 28) -> str:
        """The official file name at ``size`` px, also its name in the cache."""
        _check_size(size)
        return f"{self.flag}.npz" if size == 28 else f"{self.flag}_{size}.npz"

    def url(self, size: int = 28) -> str:
        """The official Zenodo download URL at ``size`` px."""
        return f"https://zenodo.org/records/{ZENODO_RECORD}/files/{self.filename(size)}?download=1"

    def md5_for(self, size: int = 28) -> str:
        """The official MD5 of the file at ``size`` px."""
        _check_size(size)
        return self.md5[SIZES.index(size)]


def _check_size(size: int) -> None:
    if size not in SIZES:
        raise ValueError(f"MedMNIST v2 ships sizes {SIZES}, not {size!r}.")


#: The 11 organs of OrganAMNIST, OrganCMNIST and OrganSMNIST (one CT volume set,
#: three viewing planes), in label order.
ORGAN_LABELS = (
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
)


def _flag(
    flag: str,
    title: str,
    *,
    task: str,
    labels: tuple[str, ...],
    channels: int,
    sizes: tuple[int, int, int],
    licence: str,
    md5: tuple[str, ...],
) -> MedMNISTFlag:
    train, val, test = sizes
    return MedMNISTFlag(flag, title, task, labels, channels, train, val, test, licence, md5)


_TABLE = (
    _flag(
        "pathmnist",
        "PathMNIST: colon pathology (NCT-CRC-HE-100K)",
        task="multi-class",
        labels=(
            "adipose",
            "background",
            "debris",
            "lymphocytes",
            "mucus",
            "smooth muscle",
            "normal colon mucosa",
            "cancer-associated stroma",
            "colorectal adenocarcinoma epithelium",
        ),
        channels=3,
        sizes=(89_996, 10_004, 7_180),
        licence="CC BY 4.0",
        md5=(
            "a8b06965200029087d5bd730944a56c1",  # 28
            "55aa9c1e0525abe5a6b9d8343a507616",  # 64
            "ac42d08fb904d92c244187169d1fd1d9",  # 128
            "2c51a510bcdc9cf8ddb2af93af1eadec",  # 224
        ),
    ),
    _flag(
        "chestmnist",
        "ChestMNIST: chest X-ray (NIH ChestX-ray14)",
        task="multi-label, binary-class",
        labels=(
            "atelectasis",
            "cardiomegaly",
            "effusion",
            "infiltration",
            "mass",
            "nodule",
            "pneumonia",
            "pneumothorax",
            "consolidation",
            "edema",
            "emphysema",
            "fibrosis",
            "pleural",
            "hernia",
        ),
        channels=1,
        sizes=(78_468, 11_219, 22_433),
        licence="CC BY 4.0",
        md5=(
            "02c8a6516a18b556561a56cbdd36c4a8",  # 28
            "9de6cd0b934ebb5b7426cfba5efbae16",  # 64
            "db107e5590b27930b62dbaf558aebee3",  # 128
            "45bd33e6f06c3e8cdb481c74a89152aa",  # 224
        ),
    ),
    _flag(
        "dermamnist",
        "DermaMNIST: dermatoscopy (HAM10000)",
        task="multi-class",
        labels=(
            "actinic keratoses and intraepithelial carcinoma",
            "basal cell carcinoma",
            "benign keratosis-like lesions",
            "dermatofibroma",
            "melanoma",
            "melanocytic nevi",
            "vascular lesions",
        ),
        channels=3,
        sizes=(7_007, 1_003, 2_005),
        licence="CC BY-NC 4.0",
        md5=(
            "0744692d530f8e62ec473284d019b0c7",  # 28
            "b70a2f5635c6199aeaa28c31d7202e1f",  # 64
            "2defd784463fa5243564e855ed717de1",  # 128
            "8974907d8e169bef5f5b96bc506ae45d",  # 224
        ),
    ),
    _flag(
        "octmnist",
        "OCTMNIST: retinal optical coherence tomography",
        task="multi-class",
        labels=(
            "choroidal neovascularization",
            "diabetic macular edema",
            "drusen",
            "normal",
        ),
        channels=1,
        sizes=(97_477, 10_832, 1_000),
        licence="CC BY 4.0",
        md5=(
            "c68d92d5b585d8d81f7112f81e2d0842",  # 28
            "e229e9440236b774d9f0dfef9d07bdaf",  # 64
            "0a97e76651ace45c5d943ee3f65b63ae",  # 128
            "abc493b6d529d5de7569faaef2773ba3",  # 224
        ),
    ),
    _flag(
        "pneumoniamnist",
        "PneumoniaMNIST: paediatric chest X-ray",
        task="binary-class",
        labels=(
            "normal",
            "pneumonia",
        ),
        channels=1,
        sizes=(4_708, 524, 624),
        licence="CC BY 4.0",
        md5=(
            "28209eda62fecd6e6a2d98b1501bb15f",  # 28
            "8f4eceb4ccffa70c672198ea285246c6",  # 64
            "05b46931834c231683c68f40c47b2971",  # 128
            "d6a3c71de1b945ea11211b03746c1fe1",  # 224
        ),
    ),
    _flag(
        "retinamnist",
        "RetinaMNIST: fundus camera (DeepDRiD)",
        task="ordinal-regression",
        labels=(
            "0",
            "1",
            "2",
            "3",
            "4",
        ),
        channels=3,
        sizes=(1_080, 120, 400),
        licence="CC BY 4.0",
        md5=(
            "bd4c0672f1bba3e3a89f0e4e876791e4",  # 28
            "afda852cc34dcda56f86ad2b2457dbcc",  # 64
            "e48e916a24454daf90583d4e6efb1a18",  # 128
            "eae7e3b6f3fcbda4ae613ebdcbe35348",  # 224
        ),
    ),
    _flag(
        "breastmnist",
        "BreastMNIST: breast ultrasound",
        task="binary-class",
        labels=(
            "malignant",
            "normal, benign",
        ),
        channels=1,
        sizes=(546, 78, 156),
        licence="CC BY 4.0",
        md5=(
            "750601b1f35ba3300ea97c75c52ff8f6",  # 28
            "742edef2a1fd1524b2efff4bd7ba9364",  # 64
            "363e4b3f8d712e9b5de15470a2aaadf1",  # 128
            "b56378a6eefa9fed602bb16d192d4c8b",  # 224
        ),
    ),
    _flag(
        "bloodmnist",
        "BloodMNIST: blood cell microscopy",
        task="multi-class",
        labels=(
            "basophil",
            "eosinophil",
            "erythroblast",
            "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
            "lymphocyte",
            "monocyte",
            "neutrophil",
            "platelet",
        ),
        channels=3,
        sizes=(11_959, 1_712, 3_421),
        licence="CC BY 4.0",
        md5=(
            "7053d0359d879ad8a5505303e11de1dc",  # 28
            "2b94928a2ae4916078ca51e05b6b800b",  # 64
            "adace1e0ed228fccda1f39692059dd4c",  # 128
            "b718ff6835fcbdb22ba9eacccd7b2601",  # 224
        ),
    ),
    _flag(
        "tissuemnist",
        "TissueMNIST: kidney cortex microscopy",
        task="multi-class",
        labels=(
            "Collecting Duct, Connecting Tubule",
            "Distal Convoluted Tubule",
            "Glomerular endothelial cells",
            "Interstitial endothelial cells",
            "Leukocytes",
            "Podocytes",
            "Proximal Tubule Segments",
            "Thick Ascending Limb",
        ),
        channels=1,
        sizes=(165_466, 23_640, 47_280),
        licence="CC BY 4.0",
        md5=(
            "ebe78ee8b05294063de985d821c1c34b",  # 28
            "123ece2eba09d0aa5d698fda57103344",  # 64
            "61b955355d7425a89687b06cca3ce0c2",  # 128
            "b077128c4a949f0a4eb01517f9037b9c",  # 224
        ),
    ),
    _flag(
        "organamnist",
        "OrganAMNIST: abdominal CT, axial view",
        task="multi-class",
        labels=ORGAN_LABELS,
        channels=1,
        sizes=(34_561, 6_491, 17_778),
        licence="CC BY 4.0",
        md5=(
            "68e3f8846a6bd62f0c9bf841c0d9eacc",  # 28
            "2dcccc29b88e6da5a01161ef20cda288",  # 64
            "eeae80d0a227a8d099027e1b3cfd3b60",  # 128
            "50747347e05c87dd3aaf92c49f9f3170",  # 224
        ),
    ),
    _flag(
        "organcmnist",
        "OrganCMNIST: abdominal CT, coronal view",
        task="multi-class",
        labels=ORGAN_LABELS,
        channels=1,
        sizes=(12_975, 2_392, 8_216),
        licence="CC BY 4.0",
        md5=(
            "b9ceb9546e10131b32923c5bbeaea2b1",  # 28
            "3ce34a8724ea6f548e6db4744d03b6a9",  # 64
            "773c1f009daa3fe5d9a2a201b2a7ed94",  # 128
            "050f5e875dc056f6768abf94ec9995d1",  # 224
        ),
    ),
    _flag(
        "organsmnist",
        "OrganSMNIST: abdominal CT, sagittal view",
        task="multi-class",
        labels=ORGAN_LABELS,
        channels=1,
        sizes=(13_932, 2_452, 8_827),
        licence="CC BY 4.0",
        md5=(
            "9ab87b696fb54e2a387ebe992d6ed5f1",  # 28
            "53a6d115339d874c25e309a994ff46d3",  # 64
            "ded0c5fa01a95dc4978b956f613e9b8e",  # 128
            "b354719e553fbbb2513d5533f52a4cb1",  # 224
        ),
    ),
)

#: The twelve MedMNIST v2 2D datasets, by flag, in MedMNIST's order.
MEDMNIST: dict[str, MedMNISTFlag] = {entry.flag: entry for entry in _TABLE}


@dataclass(frozen=True)
class PublishedResult:
    """One model's test ACC and AUC as published in the MedMNIST v2 paper (Table 3)."""

    method: str
    acc: float
    auc: float


#: Published PneumoniaMNIST test results quoted by the labs (Yang et al. 2023, MedMNIST v2,
#: Scientific Data 10:41, Table 3). ACC is at MedMNIST's fixed 0.5 threshold.
PUBLISHED: dict[str, tuple[PublishedResult, ...]] = {
    "pneumoniamnist": (
        PublishedResult("ResNet-18 (28)", 0.854, 0.944),
        PublishedResult("ResNet-50 (224)", 0.884, 0.962),
        PublishedResult("AutoKeras", 0.878, 0.947),
        PublishedResult("Google AutoML Vision", 0.946, 0.991),
    ),
}
