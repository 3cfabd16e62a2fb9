"""The README stays true: every setting is documented, the quickstart is the two make targets."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    missing = [name for name in Settings.model_fields if f"`{name}`" not in README]
    assert missing == [], f"run `papersbot config --markdown` and update the README table: {missing}"


def test_quickstart_is_two_commands_and_ci_runs_the_test_one() -> None:
    assert "make demo" in README and "make test" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
