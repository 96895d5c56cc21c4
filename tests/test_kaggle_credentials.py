"""Kaggle credentials are found in the documented order and never revealed."""

from __future__ import annotations

import json

import pytest

from cnnlabs.datasets import kaggle


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle"))
    return tmp_path / "kaggle"


def test_nothing_configured_gives_none_and_a_message_with_three_fixes(no_credentials):
    assert kaggle.credentials_source() is None
    message = kaggle.missing_credentials_message()
    assert "1. set KAGGLE_USERNAME and KAGGLE_KEY" in message
    assert "2. save the token" in message and "kaggle.json" in message
    assert "3. in Colab" in message


def test_environment_variables_come_first(no_credentials, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    assert kaggle.credentials_source() is None  # a username alone is not enough
    monkeypatch.setenv("KAGGLE_KEY", "s3cret-value")
    assert kaggle.credentials_source() == "environment"


def test_api_token_alone_is_enough(no_credentials, monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "tok")
    assert kaggle.credentials_source() == "environment"


def test_kaggle_json_is_found_and_validated(no_credentials):
    no_credentials.mkdir()
    path = no_credentials / "kaggle.json"
    path.write_text("{not json")
    assert kaggle.credentials_source() is None
    path.write_text(json.dumps({"username": "student", "key": "s3cret-value"}))
    assert kaggle.credentials_source() == "kaggle.json"


def test_the_secret_never_appears_in_what_is_reported(no_credentials, monkeypatch, capsys):
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    monkeypatch.setenv("KAGGLE_KEY", "s3cret-value")
    reported = kaggle.credentials_source()
    out = capsys.readouterr()
    assert "s3cret" not in f"{reported}{out.out}{out.err}{kaggle.missing_credentials_message()}"
