"""The README stays true: every setting is documented, the quickstart is the two make targets."""

from __future__ import annotations

from pathlib import Path

from config.settings import reference_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_the_configuration_tables_are_the_generated_ones() -> None:
    assert reference_table() in README, "run `papersbot config --markdown` and paste it into the README"


def test_quickstart_is_two_commands_and_ci_runs_the_test_one() -> None:
    assert "make demo" in README and "make test" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
