"""Retrieval quality on our own question set (written before tuning) over the 127 seed papers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rag.answer import AnswerEngine
from rag.components import Components
from rag.evaluate import evaluate, read_questions

EVAL = Path(__file__).resolve().parent.parent / "data" / "eval.jsonl"


def test_eval_set_is_large_and_mixed() -> None:
    rows = read_questions(EVAL)
    assert len(rows) >= 60
    assert {r["lang"] for r in rows} == {"ko", "en"}
    assert {"paraphrase", "crosslingual", "names_numbers", "multi", "date_vote", "lookup", "unanswerable"} <= {
        r["kind"] for r in rows}


def test_retrieval_quality_on_the_seeds(seed_library: Components) -> None:
    result = evaluate(AnswerEngine.from_components(seed_library), read_questions(EVAL))
    metrics = result["metrics"]
    assert metrics["R@5"] >= 0.95, metrics
    assert metrics["MRR@10"] >= 0.90, metrics
    assert metrics["not_covered_accuracy"] >= 0.8, metrics
    assert all(len(row["retrieved"]) >= 10 for row in result["rows"] if row["expected"])


def test_eval_cli_json_shape(seed_library: Components, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "OmniHuman-1 human animation", "expected": ["2502.01061"], "note": "x"}) + "\n"
        + json.dumps({"question": "오늘 서울 날씨 어때?", "expected": []}) + "\n", encoding="utf-8")
    papersbot = str(Path(sys.executable).parent / "papersbot")
    out = subprocess.run([papersbot, "--data-dir", str(seed_library.settings.storage.data_dir), "eval", str(questions),
                          "--json"], capture_output=True, text=True, timeout=300, check=True)
    data = json.loads(out.stdout)
    assert data["metrics"]["R@1"] == 1.0 and data["metrics"]["not_covered_correct"] == 1
    first, second = data["rows"]
    assert set(first) >= {"question", "expected", "retrieved", "covered"}
    assert first["retrieved"][0] == "2502.01061" and len(first["retrieved"]) >= 10 and first["covered"] is True
    assert second["covered"] is False
