"""Citation validation: the model's [n] markers are checked against what was retrieved, never trusted.

After generation: markers naming no retrieved source are dropped, the rest are renumbered in order of
first use (duplicates merged: "[2][2]" → "[1]"), and every link the model wrote is removed, because links
are always rendered from our own metadata. "Link" means anything Telegram (or a terminal) would make
clickable: URLs with a scheme, ``www.`` hosts, bare domains with or without a path
(``evil.example.com/login``, ``arxiv.org/abs/2999.00001``, ``t.me/joinchat/abc``), IPv4 addresses, e-mail
addresses, markdown and HTML links (their text is kept). Telegram links a bare domain when its last label
is a known top-level domain (TDLib's ``fix_url``); we remove every ``name.letters`` shape that could be
one, a superset, except a capitalised last label (``word.The``: TDLib never links those either) and a few
file extensions that are not top-level domains (``config.json``, ``Node.js``). Removing a link (or an
invalid marker) must not leave debris behind: a Korean particle attached to the removed link goes with it
("… evil.com 도 참고하세요" → "… 참고하세요"), and empty brackets, doubled spaces and spaces before
punctuation are tidied away.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_MARKER_GROUP = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
# A particle written after a link ("링크 를", "evil.com도"): meaningless once the link is gone.
_PARTICLES = ("에서도", "에서는", "에서", "에도", "에는", "으로", "로도", "로", "를", "을", "은", "는", "가",
              "도", "와", "과", "의", "에", "처럼", "까지", "부터", "등")  # longer ones first
_PARTICLE = rf"(?:[ \t]?(?:{'|'.join(_PARTICLES)})(?!\w))?"
_PATH = r"(?:[/?#][^\s<>()\[\]{}\"'`]*)?"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_MD_LINK = re.compile(r"!?\[([^\]\n]{1,300})\]\(\s*([^()\s]{1,2000})\s*\)")  # also ![image](…)
_HTML_LINK = re.compile(r"</?a(?:\s[^>]*)?>", re.I)
_URL = re.compile(r"(?P<link><?(?<![\w.+-])(?:[a-z][a-z0-9+.-]{0,15}://|www\.|mailto:|tg:)"
                  r"[^\s<>()\[\]{}\"'`]+>?)" + _PARTICLE, re.I)
_EMAIL = re.compile(rf"(?P<link>(?<![\w.+-])[\w.+-]+@(?:{_LABEL}\.)+[a-z]{{2,24}})(?![a-z0-9_-])" + _PARTICLE,
                    re.I)
_IPV4 = re.compile(r"(?P<link>(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])(?::\d{1,5})?" + _PATH + ")" + _PARTICLE)
_DOMAIN = re.compile(rf"(?P<link>(?<![\w.-])(?:{_LABEL}\.)+(?P<tld>[a-z]{{2,24}}|xn--[a-z0-9-]{{1,59}})"
                     rf"(?![a-z0-9_-])(?::\d{{1,5}})?{_PATH})" + _PARTICLE, re.I)
# Endings that look like top-level domains but are not ones (so Telegram leaves them alone too).
_NOT_TLDS = frozenset({
    "js", "ts", "jsx", "tsx", "json", "txt", "pdf", "html", "htm", "csv", "tsv", "yaml", "yml", "toml", "cfg",
    "ini", "ipynb", "pth", "ckpt", "npy", "npz", "pkl", "png", "jpg", "jpeg", "svg", "gif", "webp", "wav", "cpp",
    "hpp", "cc", "safetensors", "onnx", "bin", "log", "tar", "gz", "tgz", "bz", "xz",
})
_TRAILING = ".,;:!?'\""  # sentence punctuation after a link belongs to the sentence


@dataclass(frozen=True)
class Citation:
    n: int
    arxiv_id: str
    title: str
    url: str
    date: str
    votes: int | None  # None: unknown

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _trailing(link: str) -> str:
    """What to put back of a removed link: the punctuation that ended the sentence around it."""
    return link[len(link.rstrip(_TRAILING)):]


def _drop(match: re.Match[str]) -> str:
    return _trailing(match.group("link"))


def _drop_domain(match: re.Match[str]) -> str:
    tld = match.group("tld")
    if (tld[0].isupper() and tld[1:].islower()) or tld.lower() in _NOT_TLDS:
        return match.group(0)
    return _trailing(match.group("link"))


def _markdown(match: re.Match[str]) -> str:
    label, target = match.group(1), match.group(2)
    if not re.search(r"[.:]", target):
        return match.group(0)  # "[see](above)": not a link
    return f"[{label.strip()}]" if label.strip().isdigit() else label


def strip_links(text: str) -> str:
    """Remove model-written links: markdown and HTML links keep their text, everything else goes."""
    text = _MD_LINK.sub(_markdown, text)
    text = _HTML_LINK.sub("", text)
    text = _URL.sub(_drop, text)
    text = _EMAIL.sub(_drop, text)
    text = _IPV4.sub(_drop, text)
    text = _DOMAIN.sub(_drop_domain, text)
    return tidy(text)


def tidy(text: str) -> str:
    """Sweep up what removals leave: empty brackets, stray separators, doubled spaces, spaces before
    punctuation or inside brackets. Line breaks (and leading indentation) are kept."""
    text = re.sub(r"[ \t]*[(\[（][ \t]*[,;、]*[ \t]*[)\]）]", "", text)  # "참고하세요 ()" → "참고하세요"
    text = re.sub(r"([(\[（])[ \t]*[,;、][ \t]*", r"\1", text)  # "(, [1])" → "([1])"
    text = re.sub(r"[ \t]*[,;、][ \t]*([)\]）])", r"\1", text)  # "([1], )" → "([1])"
    text = re.sub(r"([(\[（])[ \t]+", r"\1", text)
    text = re.sub(r"(?<=\S)[ \t]+([)\]）])", r"\1", text)
    text = re.sub(r"([,;:])(?:[ \t]*[,;])+", r"\1", text)  # "a, , b" → "a, b"; "보기:, 그리고" → "보기: 그리고"
    text = re.sub(r"(?<=\S)[ \t]+([.,;:!?。、])", r"\1", text)  # the space a removal leaves before punctuation
    text = re.sub(r"[,;:]+(?=[.!?。])", "", text)  # "문의:." → "문의."
    text = re.sub(r"(?<=\S)[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+$", "", text, flags=re.M)
    return text.strip()


def validate(text: str, source_count: int) -> tuple[str, list[int]]:
    """Return the text with valid, renumbered markers and the source indexes (0-based) cited, in order.

    ``source_count`` is how many sources the model was shown as [1]..[source_count].
    """
    text = strip_links(text)
    order: list[int] = []

    def renumber(match: re.Match[str]) -> str:
        numbers = [int(part) for part in re.split(r"[,;]", match.group(1)) if part.strip()]
        kept: list[int] = []
        for number in numbers:
            if 1 <= number <= source_count:
                if number - 1 not in order:
                    order.append(number - 1)
                new = order.index(number - 1) + 1
                if new not in kept:
                    kept.append(new)
        return "".join(f"[{n}]" for n in kept)

    text = _MARKER_GROUP.sub(renumber, text)
    text = re.sub(r"(\[\d+\])(?:[ \t]*\1)+", r"\1", text)  # "[1][1]", "[1] [1]" → "[1]"
    return tidy(text), order
