"""Links of the repository's Markdown files, checked inside the clone: each link is a relative
path to a file or directory of the repository, and a ``#fragment`` names a heading of the
target Markdown file (GitHub's anchors: ``heading_anchors``). Parsed with markdown-it-py
(CommonMark, GitHub tables), so links in code spans and code blocks are not links."""

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["broken_links", "github_anchor", "heading_anchors", "links"]

ROOT = Path(__file__).resolve().parents[1]


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def github_anchor(text: str) -> str:
    """The anchor GitHub gives a heading of plain text ``text``: lower case, every character
    but letters, marks, digits, ``_``, ``-`` and spaces dropped, spaces turned into ``-``
    (github-slugger's rule; repeats are numbered by ``heading_anchors``)."""
    kept = (char for char in text.lower()
            if char in " -" or unicodedata.category(char)[0] in "LMN"
            or unicodedata.category(char) == "Pc")
    return "".join(kept).replace(" ", "-")


def _plain_text(inline: Token) -> str:
    return "".join(child.content for child in inline.children or ()
                   if child.type in ("text", "code_inline"))


def heading_anchors(markdown: str) -> set[str]:
    """The anchors of every heading of ``markdown``; a repeated one gets ``-1``, ``-2``, …"""
    tokens = _parser().parse(markdown)
    seen: dict[str, int] = {}
    anchors = set()
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        anchor = github_anchor(_plain_text(tokens[index + 1]))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def links(markdown: str) -> Iterator[str]:
    """Every link and image target of ``markdown``, in order."""
    for token in _parser().parse(markdown):
        for child in token.children or ():
            if child.type == "link_open":
                yield str(child.attrs["href"])
            elif child.type == "image":
                yield str(child.attrs["src"])


def _problem(source: Path, target: str, root: Path) -> str | None:
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "leaves the clone (an absolute URL)"
    path = (source.parent / unquote(parts.path)).resolve() if parts.path else source.resolve()
    if not path.is_relative_to(root.resolve()):
        return "leaves the clone"
    if not path.exists():
        return "no such file"
    if parts.fragment:
        if path.suffix != ".md":
            return "an anchor in a file that is not Markdown"
        if unquote(parts.fragment) not in heading_anchors(path.read_text()):
            return f"no heading #{parts.fragment} in {path.relative_to(root.resolve())}"
    return None


def broken_links(source: Path, root: Path = ROOT) -> list[str]:
    """``target: why`` for every link of the Markdown file ``source`` that does not resolve
    inside ``root``."""
    found = []
    for target in links(source.read_text()):
        problem = _problem(source, target, root)
        if problem is not None:
            found.append(f"{target}: {problem}")
    return found
