"""Generated sections of a Markdown file: the text between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->`` is written from the code, never by hand. ``update_file`` rewrites
the sections of a file, ``stale_sections`` names those that differ from what the code says."""

import re
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["block", "stale_sections", "update_file"]


def block(name: str, body: str) -> str:
    """A section as it stands in a file: the markers and the body between them."""
    return f"<!-- generated:{name} -->\n{body}\n<!-- /generated:{name} -->"


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!-- generated:{re.escape(name)} -->\n(?:.*?\n)?"
                      rf"<!-- /generated:{re.escape(name)} -->", re.S)


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement that inserts ``text`` as it is (no backslash or group expansion)."""
    return lambda _match: text


def stale_sections(text: str, sections: Mapping[str, str]) -> list[str]:
    """The names of ``sections`` whose block in ``text`` is missing or differs from the body."""
    return [name for name, body in sections.items() if block(name, body) not in text]


def update_file(path: Path, sections: Mapping[str, str]) -> bool:
    """Rewrite the generated sections of ``path``; True when the file changed.

    Raises ValueError naming the file and the section when a section's markers are missing."""
    text = path.read_text()
    new = text
    for name, body in sections.items():
        pattern = _pattern(name)
        if not pattern.search(new):
            raise ValueError(f"{path}: markers for section {name!r} are missing")
        new = pattern.sub(_literal(block(name, body)), new)
    if new != text:
        path.write_text(new)
    return new != text
