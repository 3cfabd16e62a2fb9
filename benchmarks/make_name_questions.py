"""Write the held-out "name" question set: papers asked for by the name in their title, as people type it.

    python benchmarks/make_name_questions.py DATA_DIR/catalog.sqlite3 > tests/data/eval_names.jsonl

The name is a title's head before ":" (at most three words, e.g. "VidToMe", "CLaMP 3") or the model of a
"... Technical Report" / "The ... Herd of Models" title. 80 names drawn with a fixed seed from all 5,487
archive papers, put into eight question templates (four Korean, four English); a name that heads several
titles expects all of them. Written and committed before any retrieval ran on it (see tests/data/EVAL.md).
"""

from __future__ import annotations

import collections
import json
import random
import re
import sqlite3
import sys

SEED, COUNT = 2026, 80
TEMPLATES = [("en", "{n} paper"), ("ko", "{n} 논문 알려줘"), ("en", "What is {n}?"), ("ko", "{n}가 뭐야?"),
             ("en", "tell me about {n}"), ("ko", "{n} 요약해줘"), ("en", "summarize the {n} paper"),
             ("ko", "{n} 논문 내용이 뭐야")]


def name_of(title: str) -> str | None:
    report = re.match(r"^(?:The\s+)?(.+?)\s+(?:Technical Report|Herd of Models)$", title)
    if report:
        return report.group(1).strip()
    if ":" in title:
        head = title.split(":")[0].strip()
        if 2 <= len(head) <= 30 and len(head.split()) <= 3:
            return head
    return None


def main(catalog: str) -> None:
    rows = sqlite3.connect(catalog).execute("select arxiv_id, title from papers order by arxiv_id").fetchall()
    by_name: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for arxiv_id, title in rows:
        name = name_of(title)
        if name:
            by_name[name.lower()].append((arxiv_id, name))
    random.seed(SEED)
    for i, key in enumerate(random.sample(sorted(by_name), COUNT)):
        lang, template = TEMPLATES[i % len(TEMPLATES)]
        papers = by_name[key]
        row = {"question": template.format(n=papers[0][1]), "expected": [a for a, _ in papers], "lang": lang,
               "kind": "name"}
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
