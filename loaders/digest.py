"""Parse Hugging Face Daily Papers digests into one :class:`Paper` per paper block.

One file per day. Every format the public archive (``l-yohai/daily_papers_ko``) has used is read::

    ## Daily Papers (2024-11-19)          (a re-run may append a second header for the same day)

    ### [Title](https://arxiv.org/abs/2411.09213)

    ![](https://cdn-thumbnails.huggingface.co/...png)     (optional)
    [Watch Video](...) / <div><video ...></div>            (optional, ignored)

    Vote: 6                                (optional; "Vote: -" or none: votes unknown)

    Authors: A, B                          (optional; or a Python-style list: ['A', 'B'])

    - ***What's New***: ...                (2024-06 on; **Name** too; a curly ’ too)
    - ***Technical Details***: ...
    - ***Performance Highlights***: ...
    - **Limitations**: ...                 (any other named section: kept in the summary)
    - free bullets with no name ...        (2023-11 to 2024-06: the whole summary)

A paper needs a title, an arXiv link and some summary text; named sections are optional. Parsing never
raises on bad content: every problem becomes a :class:`Problem` with file and line, a broken paper block
is dropped whole (never half-loaded), and the rest of the file still loads.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal

# Every text section a paper can have, in display order. The first three are the digest's named sections
# (mid 2024 on); "summary" holds free bullets (older digests) and any other named section; "abstract" is
# the English abstract from Hugging Face (never in a digest file; see rag/enrich.py).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("whats_new", "What's New"),
    ("technical_details", "Technical Details"),
    ("performance_highlights", "Performance Highlights"),
    ("summary", "Summary"),
    ("abstract", "Abstract"),
)
NAMED_SECTIONS = SECTIONS[:3]
_NAMED_KEYS = {label.lower(): key for key, label in NAMED_SECTIONS}

_DATE_HEADER = re.compile(r"^##\s+Daily Papers\s*\((\d{4}-\d{2}-\d{2})\)\s*$")
_PAPER_HEADER = re.compile(r"^###\s+(?P<rest>.*)$")
_TITLE_LINK = re.compile(r"^\[(?P<title>.+)\]\((?P<url>\S+?)\)\s*$")
_ARXIV_ID = re.compile(r"(?P<id>\d{4}\.\d{4,5})(?:v\d+)?")
_ARXIV_URL = re.compile(r"^https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/" + _ARXIV_ID.pattern + r"(?:\.pdf)?/?$")
_THUMBNAIL = re.compile(r"^!\[[^\]]*\]\([^)]*\)\s*$")
# Video embeds: "[Watch Video](url)", "[Watch Video]url" (no parentheses) and raw HTML video tags.
_EMBED = re.compile(r"^(?:\[Watch Video\]|</?div\b|</?video\b|<source\b)", re.I)
_VOTE = re.compile(r"^Vote:\s*(?P<n>\S*)\s*$")
_UNKNOWN_VOTES = {"", "-", "–", "—", "?", "n/a"}
_AUTHORS = re.compile(r"^Authors:\s*(?P<list>.*)$")
# "- ***What's New***: text" or "- **What's New**: text" (the colon may sit inside the stars too).
_SECTION = re.compile(r"^[-*]\s*\*{2,3}\s*(?P<name>[^*]+?)\s*:?\s*\*{2,3}\s*:?\s*(?P<text>.*)$")
_BULLET = re.compile(r"^[-*•]\s+(?P<text>.*)$")
_FILENAME_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_CURLY = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})

Severity = Literal["error", "warning"]
Report = Callable[..., None]  # problem(line, message, severity="error")


@dataclass(frozen=True)
class Problem:
    """Something wrong in a digest. Errors drop a paper (or the file); warnings keep it."""

    file: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"

    def to_json(self) -> dict[str, str | int]:
        return asdict(self)


@dataclass(frozen=True)
class Paper:
    """One paper as it appeared in one digest. Sections absent from the digest are empty strings."""

    arxiv_id: str
    title: str
    url: str
    date: str  # ISO date of the digest
    votes: int | None  # None: the digest gave no count ("Vote: -" or no Vote line)
    authors: tuple[str, ...]
    whats_new: str = ""
    technical_details: str = ""
    performance_highlights: str = ""
    summary: str = ""  # free bullets (older digests) and any other named section, one per line
    abstract: str = ""  # English abstract from Hugging Face, when enriched
    source: str = ""
    line: int = 0

    def sections(self) -> dict[str, str]:
        """Section key → text for the sections this paper has, in display order."""
        return {key: text for key, _ in SECTIONS if (text := getattr(self, key))}

    @property
    def rank_votes(self) -> int:
        """Votes for ranking: unknown counts as 0."""
        return self.votes or 0

    @property
    def digest_text(self) -> str:
        """The digest's own summary (every section but the English abstract), for quoting a gist."""
        return "\n".join(text for key, text in self.sections().items() if key != "abstract")

    @property
    def content_hash(self) -> str:
        """Hash of everything that is embedded (title and sections); votes and dates are not."""
        digest = hashlib.sha256(self.title.encode())
        for key, text in self.sections().items():
            digest.update(b"\x00" + key.encode() + b"\x00" + text.encode())
        return digest.hexdigest()[:32]


@dataclass
class DigestResult:
    """What one file yielded: its date, the papers that parsed whole, and every problem found."""

    file: str
    date: str | None
    papers: list[Paper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0  # paper blocks dropped because they were broken
    truncated: bool = False  # the file ends mid-paper (a cut download): its last paper was dropped

    @property
    def readable(self) -> bool:
        """False when the file as a whole could not be used (unreadable, too large, undated...)."""
        return self.date is not None and not any(p.line == 0 and p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def arxiv_id_from(text: str) -> str | None:
    """The bare arXiv id (no version) in an id or arXiv URL, or None."""
    text = text.strip()
    match = _ARXIV_URL.match(text) or re.fullmatch(_ARXIV_ID.pattern + r"(?:v\d+)?", text)
    return match.group("id") if match else None


def arxiv_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def parse_authors(raw: str) -> tuple[str, ...]:
    """``A, B`` or ``['A', 'B']`` → ('A', 'B'), order kept."""
    raw = raw.strip()
    if raw.startswith("["):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, list | tuple):
            return tuple(str(name).strip() for name in value if str(name).strip())
        raw = raw.strip("[]")
    return tuple(name.strip().strip("'\"").strip() for name in raw.split(",") if name.strip().strip("'\""))


class _Block:
    """A paper block being collected; turned into a Paper only if complete."""

    def __init__(self, line: int, title: str, arxiv_id: str) -> None:
        self.line = line
        self.title = title
        self.arxiv_id = arxiv_id
        self.votes: int | None = None
        self.authors: tuple[str, ...] | None = None
        # section key → paragraphs (a bullet starts one; a wrapped line continues the last one)
        self.sections: dict[str, list[str]] = {}
        self.current: str | None = None
        self.last: str | None = None  # the section written to most recently (a cut file ends in it)
        self.broken: list[tuple[int, str]] = []

    def start(self, key: str, text: str) -> None:
        self.sections.setdefault(key, []).append(text)
        self.current = self.last = key

    def extend(self, text: str) -> None:
        """A wrapped continuation line of the current section."""
        assert self.current is not None
        self.sections[self.current][-1] += " " + text
        self.last = self.current

    def text(self, key: str) -> str:
        separator = "\n" if key == "summary" else " "
        return separator.join(part for part in self.sections.get(key, []) if part).strip()


def parse_digest(text: str, file: str = "<string>") -> DigestResult:
    """Parse one digest's text. Never raises on content; see :class:`Problem`."""
    result = DigestResult(file=file, date=None)
    lines = text.splitlines()
    block: _Block | None = None
    skipping = False  # inside a paper block whose header was unusable
    kept: set[str] = set()

    def problem(line: int, message: str, severity: Severity = "error") -> None:
        result.problems.append(Problem(file, line, message, severity))

    def finish(current: _Block | None, truncated_at_eof: bool = False) -> None:
        if current is None:
            return
        paper = _complete(current, result, problem, truncated_at_eof=truncated_at_eof)
        if paper is None:
            return
        if paper.arxiv_id in kept:  # e.g. a re-run appended under a second header repeats a paper
            problem(current.line, f"paper {paper.arxiv_id} appears twice in this digest; kept the first", "warning")
            return
        kept.add(paper.arxiv_id)
        result.papers.append(paper)

    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if "\x00" in line or "\ufffd" in line:
            problem(number, "undecodable or binary bytes")
            if block is not None:
                block.broken.append((number, "contains undecodable bytes"))
            continue
        if not stripped:
            continue
        date_match = _DATE_HEADER.match(stripped)
        if date_match:
            finish(block)
            block, skipping = None, False
            if result.date is None:
                result.date = _valid_date(date_match.group(1), number, problem)
            elif date_match.group(1) != result.date:
                problem(number, f"second date header ({date_match.group(1)}) ignored", "warning")
            continue
        header = _PAPER_HEADER.match(stripped)
        if header:
            finish(block)
            block, skipping = None, False
            link = _TITLE_LINK.match(header.group("rest").strip())
            if not link:
                problem(number, "paper block has no '[Title](https://arxiv.org/abs/ID)' link; block skipped")
                result.skipped += 1
                skipping = True
                continue
            arxiv_id = arxiv_id_from(link.group("url"))
            if arxiv_id is None:
                problem(number, f"link is not an arXiv paper URL: {link.group('url')!r}; block skipped")
                result.skipped += 1
                skipping = True
                continue
            title = link.group("title").strip()
            if not title:
                problem(number, "empty title; block skipped")
                result.skipped += 1
                skipping = True
                continue
            block = _Block(number, title, arxiv_id)
            continue
        if skipping:
            continue
        if block is None:
            if not stripped.startswith("#"):
                problem(number, "text outside any paper block ignored", "warning")
            continue
        _feed(block, stripped, number, problem)

    finish(block, truncated_at_eof=bool(text) and not text.endswith("\n"))

    if result.date is None:
        fallback = _FILENAME_DATE.search(Path(file).name) or _FILENAME_DATE.search(
            "-".join(Path(file).with_suffix("").parts[-3:]))  # .../2025/02/05.md, the archive's layout
        if fallback and _valid_date(fallback.group(1), 0, None):
            result.date = fallback.group(1)
            problem(1, f"no '## Daily Papers (YYYY-MM-DD)' header; used the date in the file name ({result.date})",
                    "warning")
        else:
            problem(0, "no '## Daily Papers (YYYY-MM-DD)' header and no date in the file name; file skipped")
            result.papers, result.skipped = [], 0
            return result
    result.papers = [replace(paper, date=result.date) for paper in result.papers]
    return result


def _valid_date(value: str, line: int, problem: Report | None) -> str | None:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        if problem is not None:
            problem(line, f"invalid date {value!r}")
        return None


def _feed(block: _Block, stripped: str, number: int, problem: Report) -> None:
    """Route one non-blank line of a paper block."""
    if _THUMBNAIL.match(stripped) or _EMBED.match(stripped):
        block.current = None
        return
    vote = _VOTE.match(stripped)
    if vote:
        raw = vote.group("n")
        if raw.lstrip("-").isascii() and raw.lstrip("-").isdigit():
            block.votes = int(raw)
        elif raw.lower() not in _UNKNOWN_VOTES:
            problem(number, f"paper {block.arxiv_id}: unreadable vote count {stripped!r}; votes unknown", "warning")
        block.current = None
        return
    authors = _AUTHORS.match(stripped)
    if authors:
        block.authors = parse_authors(authors.group("list"))
        block.current = None
        return
    section = _SECTION.match(stripped)
    if section:
        name = " ".join(section.group("name").translate(_CURLY).split()).rstrip(":").strip()
        key = _named_section(name)
        if key is not None:
            block.start(key, section.group("text").strip())
        else:  # another named section (Limitations, 비전 인코더 ...): kept, under its name, in the summary
            block.start("summary", f"{name}: {section.group('text').strip()}")
        return
    bullet = _BULLET.match(stripped)
    if bullet:  # a bullet with no section name: the free-form summary of older digests (or a stray note)
        block.start("summary", bullet.group("text").strip())
        return
    if stripped.startswith("#"):  # a sub-heading inside a paper: not content
        return
    if block.current is not None:
        block.extend(stripped)
        return
    block.start("summary", stripped)  # loose prose before any section: still this paper's summary


def _named_section(name: str) -> str | None:
    """The key of one of the three named sections (also "What's New - Related Work"), else None."""
    lowered = name.lower()
    for label, key in _NAMED_KEYS.items():
        if lowered == label or lowered.startswith(label + " "):
            return key
    return None


_SENTENCE_END = re.compile(r"[.!?。)\]\"'”’다요음됨함임]\s*$")


def _complete(
    block: _Block, result: DigestResult, problem: Report, *, truncated_at_eof: bool
) -> Paper | None:
    """A Paper if the block is whole; otherwise report why and return None."""
    where = f"paper {block.arxiv_id}"
    for line, message in block.broken:
        problem(line, f"{where}: {message}; paper skipped")
    if block.broken:
        result.skipped += 1
        return None
    texts = {key: block.text(key) for key, _ in SECTIONS if key != "abstract"}
    if not any(texts.values()):
        problem(block.line, f"{where}: no summary text under the title; paper skipped")
        result.skipped += 1
        return None
    if truncated_at_eof and block.last and not _SENTENCE_END.search(block.sections[block.last][-1]):
        problem(block.line, f"{where}: file ends mid-sentence (looks truncated); paper skipped")
        result.skipped += 1
        result.truncated = True
        return None
    return Paper(
        arxiv_id=block.arxiv_id,
        title=block.title,
        url=arxiv_url(block.arxiv_id),
        date=result.date or "",
        votes=block.votes,
        authors=block.authors or (),
        source=result.file,
        line=block.line,
        **texts,
    )


def read_digest(path: Path, *, max_bytes: int) -> DigestResult:
    """Read and parse one digest file; unreadable, oversized or binary files become a file-level error."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return DigestResult(name, None, problems=[Problem(
                name, 0, f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit; skipped")])
        raw = path.read_bytes()
    except OSError as exc:
        return DigestResult(name, None, problems=[Problem(name, 0, f"cannot read file: {exc.strerror or exc}")])
    if b"\x00" in raw[:8192] and raw.count(b"\x00") > len(raw) // 100:
        return DigestResult(name, None, problems=[Problem(name, 0, "binary file, not a digest; skipped")])
    return parse_digest(raw.decode("utf-8", errors="replace"), name)


@dataclass
class DigestBatch:
    """Many files parsed together: every paper appearance and every problem, nothing stored."""

    files: int = 0
    papers: list[Paper] = field(default_factory=list)  # one per (paper, digest): a paper may repeat
    problems: list[Problem] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    skipped: int = 0  # paper blocks dropped (each one's reason is among the problems)

    def to_json(self) -> dict[str, object]:
        """The ``ingest --dry-run --json`` report."""
        distinct = {paper.arxiv_id: paper for paper in self.papers}
        return {
            "files": self.files,
            "papers": len(distinct),
            "appearances": len(self.papers),
            "dates": len({paper.date for paper in self.papers}),
            "skipped": self.skipped,
            "unreadable": self.unreadable,
            "named_sections": sum(1 for p in distinct.values() if any(getattr(p, k) for k, _ in NAMED_SECTIONS)),
            "free_summary_only": sum(1 for p in distinct.values() if not any(getattr(p, k) for k, _ in NAMED_SECTIONS)),
            "votes_unknown": sum(1 for p in distinct.values() if p.votes is None),
            "problems": [problem.to_json() for problem in self.problems],
        }

    def summary(self) -> str:
        distinct = len({paper.arxiv_id for paper in self.papers})
        errors = sum(1 for problem in self.problems if problem.severity == "error")
        return (f"{self.files} file(s): {distinct} paper(s) parsed, {self.skipped} skipped, "
                f"{len(self.unreadable)} unreadable; {errors} error(s), {len(self.problems) - errors} warning(s)")


def read_digests(inputs: list[str], *, max_bytes: int) -> DigestBatch:
    """Parse files, folders and globs (see :func:`find_digest_files`); never raises on bad content."""
    batch = DigestBatch()
    files, problems = find_digest_files(inputs)
    batch.problems.extend(problems)
    batch.unreadable.extend(problem.file for problem in problems)
    for path in files:
        result = read_digest(path, max_bytes=max_bytes)
        batch.files += 1
        batch.problems.extend(result.problems)
        if not result.readable:
            batch.unreadable.append(str(path))
        batch.skipped += result.skipped
        batch.papers.extend(result.papers)
    return batch


DIGEST_SUFFIXES = (".md", ".txt", ".markdown")


def find_digest_files(inputs: list[str]) -> tuple[list[Path], list[Problem]]:
    """Expand files, folders (recursively, digest suffixes only) and glob patterns; order kept, no repeats."""
    import glob

    files: list[Path] = []
    seen: set[Path] = set()
    problems: list[Problem] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            # A folder's README is documentation, not a digest; a README named explicitly is still read.
            matches = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in DIGEST_SUFFIXES and not p.stem.lower().startswith("readme")
            )
            if not matches:
                problems.append(Problem(item, 0, "folder holds no .md/.txt digest files"))
        elif path.exists():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not matches:
                problems.append(Problem(item, 0, "no such file, folder or glob match"))
        for match in matches:
            if match.resolve() not in seen:
                seen.add(match.resolve())
                files.append(match)
    return files, problems
