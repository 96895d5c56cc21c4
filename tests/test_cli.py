"""The console script: info, train, data and labs commands, and their errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cnnlabs import cli


def test_info_prints_versions_profile_and_data_folder(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLABS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CNNLABS_PROFILE", "cpu")
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for word in ("tensorflow", "keras", "python", "gpus", str(tmp_path)):
        assert word in out
    assert "profile" in out and "cpu" in out
    assert cli.main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["profile"]["name"] == "cpu"


def test_train_smoke_on_mock_data_writes_a_complete_run_folder(capsys, empty_data_dir, tmp_path):
    out_dir = tmp_path / "run"
    with pytest.warns(UserWarning, match="(?i)mock"):
        status = cli.main(["train", "lenet", "mnist", "--profile", "smoke", "--out", str(out_dir)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "MOCK" in printed
    assert "precision" in printed and "recall" in printed  # the sklearn report
    for name in ("history.json", "training_curves.png", "best.keras", "model.keras",
                 "classification_report.txt", "confusion_matrix.png", "results.json"):
        assert (out_dir / name).is_file(), name
    results = json.loads((out_dir / "results.json").read_text())
    assert results["mock_data"] is True and results["profile"] == "smoke"
    assert results["parameters"] == 1_256_080 and results["n"] == 512
    assert results["recipe"]["epochs"] == 1
    assert results["epochs_trained"] == 1 and results["resumed"] is False


def test_train_on_real_data_uses_the_cache(capsys, real_mnist_npz, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLABS_DATA_DIR", str(real_mnist_npz.parent))
    status = cli.main(["train", "lenet5", "mnist", "--profile", "smoke", "--out",
                       str(tmp_path / "run")])
    assert status == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["mock_data"] is False and results["parameters"] == 61_706
    assert "MOCK" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "resnet9000", "mnist"], "lenet, lenet5, minigooglenet, minivggnet"),
        (["train", "lenet", "imagenet"], "Valid names: bloodmnist, breastmnist, chest_xray,"),
        (["labs", "run", "42"], "Valid labs: 00, 01, 02, 03, 04, 05, 06, 07, 08"),
    ],
)
def test_unknown_names_fail_with_the_valid_ones(capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size"])
@pytest.mark.parametrize("value", ["0", "-1", "2.5"])
def test_train_refuses_epochs_and_batch_sizes_below_one_before_training(capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "lenet", "mnist", "--profile", "smoke", flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_labs_list_names_every_lab(capsys):
    assert cli.main(["labs", "list"]) == 0
    out = capsys.readouterr().out
    assert "00_setup.ipynb" in out and "03_lenet_mnist.ipynb" in out
    assert "missing" not in out


def test_labs_run_executes_a_notebook_and_keeps_the_executed_copy(tmp_path, capsys):
    assert cli.main(["labs", "run", "0", "--profile", "smoke", "--out", str(tmp_path)]) == 0
    executed = json.loads((tmp_path / "00_setup.ipynb").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code)
    assert any("name='smoke'" in json.dumps(c["outputs"]) for c in code)
    assert executed["metadata"]["cnnlabs"]["profile"] == "smoke"


def test_python_dash_m_is_the_same_program():
    result = subprocess.run([sys.executable, "-m", "cnnlabs", "--help"], capture_output=True,
                            text=True, check=True)
    for command in ("info", "train", "data", "labs"):
        assert command in result.stdout


def test_data_list_shows_the_catalogue_and_cache(capsys, empty_data_dir):
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and str(empty_data_dir) in out
    assert "cached (" not in out
    (empty_data_dir / "cifar10" / "train").mkdir(parents=True)
    assert cli.main(["data", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "cached but invalid: The image folder " in rows["cifar10"]
    assert rows["mnist"].endswith("not cached")


def test_a_finished_run_folder_is_never_overwritten(capsys, empty_data_dir, tmp_path):
    out_dir = tmp_path / "run"
    argv = ["train", "lenet", "mnist", "--profile", "smoke", "--out", str(out_dir)]
    with pytest.warns(UserWarning):
        assert cli.main(argv) == 0
    before = (out_dir / "model.keras").read_bytes()
    assert cli.main(argv) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert (out_dir / "model.keras").read_bytes() == before


def test_resuming_with_a_different_command_is_refused(capsys, empty_data_dir, tmp_path):
    out_dir = tmp_path / "run"
    (out_dir / "backup").mkdir(parents=True)
    (out_dir / "run.json").write_text(json.dumps({"model": "lenet5"}))
    assert cli.main(["train", "lenet", "mnist", "--profile", "smoke", "--out", str(out_dir)]) == 2
    assert "backup of a different run" in capsys.readouterr().err


def test_models_lists_every_registered_name_and_the_transfer_models(capsys):
    from cnnlabs import models, run

    assert cli.main(["models"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == run.model_names()
    assert set(models.names()) | {"transfer_mobilenetv2", "transfer_densenet121"} <= set(listed)


def test_train_on_the_chest_xrays_groups_val_by_patient_and_picks_the_threshold_there(
        capsys, tmp_path):
    out_dir = tmp_path / "run"
    status = cli.main(["train", "resnet_xray", "chest_xray", "--profile", "smoke",
                       "--image-size", "32", "--color", "grayscale", "--out", str(out_dir)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "no patient on both sides" in printed
    results = json.loads((out_dir / "results.json").read_text())
    assert results["dataset"] == "chest_xray" and results["threshold_method"] == "youden"
    assert results["recipe"]["balance_classes"] is True  # resnet_xray@chest_xray
    assert {"auc", "sensitivity", "specificity", "val_auc"} <= set(results)


def test_start_up_lines_of_tensorflow_stay_out_of_the_output():
    """On a machine without a GPU TensorFlow prints oneDNN and cuInit notices at start-up;
    the CLI keeps them out (and everything else on standard error in)."""
    done = subprocess.run([sys.executable, "-m", "cnnlabs", "info"], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert done.returncode == 0
    for noise in ("cuInit", "oneDNN", "absl::InitializeLog", "cuda drivers"):
        assert noise not in done.stderr, done.stderr
    assert "tensorflow" in done.stdout


def test_the_start_up_filter_drops_notices_and_keeps_real_errors():
    from cnnlabs import config

    lines = ["I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n",
             "E0000 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
             "F0000 some.cc:1] Check failed: something real went wrong\n"]
    dropped, kept = config.split_start_up_lines(lines)
    assert dropped == lines[:2] and kept == lines[2:]


def test_a_model_too_big_for_the_images_fails_before_any_run_folder(capsys, empty_data_dir,
                                                                      tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("CNNLABS_RUNS_DIR", str(runs))
    with pytest.warns(UserWarning, match="(?i)mock"):
        assert cli.main(["train", "alexnet", "cifar10", "--profile", "smoke"]) == 2
    assert "at least 67x67" in capsys.readouterr().err
    assert not runs.exists() or not any(runs.iterdir())


def test_train_on_a_two_class_dataset_reports_like_a_clinical_test(capsys, empty_data_dir,
                                                                   tmp_path):
    out_dir = tmp_path / "run"
    with pytest.warns(UserWarning, match="(?i)mock"):
        status = cli.main(["train", "resnet_small", "pneumoniamnist", "--profile", "smoke",
                           "--out", str(out_dir)])
    assert status == 0
    printed = capsys.readouterr().out
    for word in ("AUC", "sensitivity", "specificity", "majority baseline", "threshold"):
        assert word in printed
    results = json.loads((out_dir / "results.json").read_text())
    assert results["threshold_method"] == "youden" and 0.0 <= results["threshold"] <= 1.0
    assert results["recipe"]["balance_classes"] is True
    assert {"auc", "sensitivity", "specificity", "accuracy_at_0.5", "val_auc"} <= set(results)
    assert (out_dir / "roc_curve.png").is_file()


def test_an_interrupted_train_resumes_and_counts_every_session(capsys, empty_data_dir, tmp_path,
                                                               monkeypatch):
    import dataclasses

    import keras

    from cnnlabs import config, training

    # Three epochs on the small smoke data: lift the smoke profile's one-epoch cap.
    monkeypatch.setitem(config.PROFILES, "smoke",
                        dataclasses.replace(config.PROFILES["smoke"], max_epochs=None))

    class StopInEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 3:
                raise KeyboardInterrupt

    real_fit = training.fit
    calls = []

    def fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            kwargs["extra_callbacks"] = [StopInEpoch2()]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(training, "fit", fit)
    out_dir = tmp_path / "run"
    argv = ["train", "lenet", "mnist", "--profile", "smoke", "--epochs", "3",
            "--out", str(out_dir), "--verbose", "0"]
    with pytest.warns(UserWarning, match="(?i)mock"):
        assert cli.main(argv) == 130
    assert "to resume from the last backup" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="(?i)mock"):
        assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    rows = training.read_history(out_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    results = json.loads((out_dir / "results.json").read_text())
    assert results["resumed"] is True and results["epochs_trained"] == 3
    assert results["epoch_seconds_all_sessions"] == pytest.approx(
        sum(row["seconds"] for row in rows), abs=0.1)
    assert "resuming from the backup" in printed
    assert "after 3 epochs in" in printed and "over all sessions" in printed


def test_a_multi_label_dataset_is_refused_before_any_data_or_run_folder(capsys, empty_data_dir,
                                                                        tmp_path):
    runs = tmp_path / "runs"
    assert cli.main(["train", "lenet", "chestmnist", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "multi-label" in err and "binary cross-entropy" in err
    assert not runs.exists() or not any(runs.iterdir())


def test_an_out_path_that_is_a_file_is_refused_and_kept(capsys, empty_data_dir, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert cli.main(["train", "lenet", "mnist", "--profile", "smoke", "--out", str(notes)]) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err
    assert notes.read_text() == "my notes"
