"""`python -m model train | evaluate`: works headless, and bad input exits 2 with a message, no traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.cli import main
from model.data.datasets import load_dataset
from model.serving.bundle import load_bundle

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "hidden_layers": [{"units": 4, "activation": "relu", "dropout": 0.0}],
    "epochs": 5,
    "batch_size": None,
    "device": "cpu",
}


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_train_writes_a_loadable_bundle_with_cv_metrics(tmp_path, tiny_config, capsys):
    out = tmp_path / "bundle"
    assert (
        main(["train", "--config", str(tiny_config), "--out", str(out), "--cv", "--folds", "2", "--repeats", "1"]) == 0
    )
    printed = capsys.readouterr()
    assert "Training on built-in cleveland: 303 patients" in printed.out and "device CPU" in printed.out
    assert "training" in printed.err and "5/5" in printed.err  # the tqdm epoch bar
    model = load_bundle(out)
    assert model.pipeline.named_steps["ann"].config().epochs == 5
    assert model.pipeline.named_steps["ann"].callbacks is None  # the progress bar is not saved with the model
    metadata = model.metadata
    assert metadata["cv"]["n_splits"] == 2 and 0.5 < metadata["metrics"]["roc_auc"]["mean"] <= 1
    assert metadata["training"]["epochs_run"] == 5 and metadata["data"]["n_rows"] == 303


def test_train_on_a_user_csv(tmp_path, tiny_config):
    csv = tmp_path / "mine.csv"
    load_dataset().sample(120, random_state=0).to_csv(csv, index=False)  # both outcomes: the file is sorted by target
    out = tmp_path / "b"
    assert main(["train", "--config", str(tiny_config), "--data", str(csv), "--out", str(out)]) == 0
    assert load_bundle(out).metadata["n_training_rows"] == 120


def test_evaluate_prints_the_ann_against_every_classical_model(tiny_config, capsys):
    assert main(["evaluate", "--config", str(tiny_config), "--folds", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for name in [
        "ANN",
        "Logistic regression",
        "Random forest",
        "Gradient boosting",
        "SVM",
        "k-nearest neighbours",
        "Naive Bayes",
        "Decision tree",
        "best by ROC AUC",
    ]:
        assert name in out


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "not valid JSON"),
        ('{"epochs": -1}', "epochs: must be a whole number from 1 to 5000"),
        ('{"optimizer": "lbfgs"}', "optimizer: must be one of"),
        ('{"hidden_layers": [{"units": 100000}]}', "units: must be a whole number from 1 to 512"),
        ('{"colour": "red"}', "colour: unknown field"),
    ],
)
def test_bad_config_files_exit_2_with_a_message(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert not (tmp_path / "o").exists()


def test_other_bad_input_exits_2(tmp_path, tiny_config, capsys, caplog):
    with caplog.at_level("INFO", logger="model.cli"):
        assert main(["train", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert "refused its input" in caplog.text and "Traceback" in caplog.text  # the traceback is logged, not shown
    assert main(["evaluate", "--data", "nowhere"]) == 2
    assert "cleveland or a CSV file" in capsys.readouterr().err
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("age,sex\n50,1\n")
    assert main(["train", "--data", str(bad_csv), "--out", str(tmp_path / "o")]) == 2
    assert "cannot be used" in capsys.readouterr().err
    assert main(["evaluate", "--config", str(tiny_config), "--folds", "11"]) == 2
    assert "n_splits must be a whole number from 2 to 10" in capsys.readouterr().err
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "thesis.docx").write_text("x")
    assert main(["train", "--config", str(tiny_config), "--out", str(taken)]) == 2
    assert "not a model bundle" in capsys.readouterr().err


def test_module_entry_point_gives_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"learning_rate": "fast"}')
    run = subprocess.run(
        [sys.executable, "-m", "model", "train", "--config", str(bad), "--out", str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    assert "learning_rate" in run.stderr and "Traceback" not in run.stderr


def test_evaluate_keeps_each_patient_of_the_public_1025_row_copy_in_one_fold(
    tmp_path, tiny_config, capsys, monkeypatch
):
    from _kaggle_copy import kaggle_1025_bytes, kaggle_1025_frame, total_seen

    from model.data.schema import FEATURE_NAMES
    from model.evaluation import cross_validation as evaluation

    csv = tmp_path / "heart.csv"
    csv.write_bytes(kaggle_1025_bytes())
    used = []
    real = evaluation.cross_validate_models

    def recording(models, X, y, **kwargs):
        result = real({"Logistic regression": models["Logistic regression"]}, X, y, **kwargs)
        used.append(result.splits)
        return result

    monkeypatch.setattr(evaluation, "cross_validate_models", recording)
    assert main(["evaluate", "--config", str(tiny_config), "--data", str(csv), "--folds", "3", "--repeats", "2"]) == 0
    assert len(used) == 1 and len(used[0]) == 6
    assert total_seen(kaggle_1025_frame()[list(FEATURE_NAMES)], used[0]) == 0
    assert "723 rows that repeat an earlier patient" in capsys.readouterr().out


def test_a_csv_that_fits_two_codings_asks_for_coding_and_then_trains(tmp_path, tiny_config, capsys):
    from model.data.codings import uci_to_kaggle

    kaggle = uci_to_kaggle(load_dataset("cleveland"))
    fits_both = (kaggle["cp"] != 0) & (kaggle["slope"] != 0) & (kaggle["ca"] != 4) & ~kaggle["thal"].isin([0, 1, 2])
    path = tmp_path / "ambiguous.csv"
    kaggle[fits_both].groupby("target").head(6).to_csv(path, index=False)  # too few for the target to decide
    assert main(["evaluate", "--config", str(tiny_config), "--data", str(path), "--folds", "2", "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert "--coding uci or --coding kaggle" in err and "Traceback" not in err
    assert (
        main(
            [
                "train",
                "--config",
                str(tiny_config),
                "--data",
                str(path),
                "--coding",
                "kaggle",
                "--out",
                str(tmp_path / "bundle"),
            ]
        )
        == 0
    )
    assert load_bundle(tmp_path / "bundle").metadata["n_training_rows"] == 12
