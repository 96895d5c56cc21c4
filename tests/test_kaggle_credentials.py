"""Kaggle credentials are found in the documented order and never revealed."""

from __future__ import annotations

import json
import os
import sys
import types

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


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"username": "student"}, 'has no "key"'),
        ({"key": "s3cret-value"}, 'has no "username"'),
        ({"username": "student", "key": ""}, 'has an empty "key"'),
        ('{"username": "student", "key": "s3cret-value"', "is not valid JSON (line 1, column"),
        (["student", "s3cret-value"], "does not hold a JSON object"),
    ],
    ids=["no-key", "no-username", "empty-key", "not-json", "a-list"],
)
def test_an_incomplete_kaggle_json_is_named_with_what_is_missing(
    no_credentials, monkeypatch, content, problem
):
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not in Colab
    no_credentials.mkdir()
    path = no_credentials / "kaggle.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert kaggle.credentials_source() is None
    message = kaggle.missing_credentials_message()
    assert message.startswith(f"No usable Kaggle credentials found: {path} {problem}")
    assert "No Kaggle credentials found" not in message
    assert "1. set KAGGLE_USERNAME" in message and "3. in Colab" in message
    assert "s3cret" not in message and "student" not in message


def test_a_username_without_a_key_in_the_environment_is_named(no_credentials, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", None)
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    message = kaggle.missing_credentials_message()
    assert "KAGGLE_USERNAME is set in the environment but KAGGLE_KEY is not" in message
    assert "student" not in message


def test_colab_secrets_are_read_in_one_place_and_copied_without_overwriting(
    no_credentials, monkeypatch
):
    secrets = {"KAGGLE_USERNAME": "student", "KAGGLE_KEY": "s3cret-value"}
    asked: list[str] = []

    def get(name):
        asked.append(name)
        if name not in secrets:
            raise KeyError(name)  # like SecretNotFoundError
        return secrets[name]

    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=get)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.setenv(name, "")  # empty counts as unset; restored after the test
    assert kaggle.colab_secret("KAGGLE_KEY") == "s3cret-value"
    assert kaggle.colab_secret("KAGGLE_API_TOKEN") is None
    assert kaggle.credentials_source() == "colab secrets"
    monkeypatch.setenv("KAGGLE_USERNAME", "already-set")
    kaggle.secrets_to_environment()
    assert os.environ["KAGGLE_USERNAME"] == "already-set"
    assert os.environ["KAGGLE_KEY"] == "s3cret-value"
    assert os.environ["KAGGLE_API_TOKEN"] == ""
