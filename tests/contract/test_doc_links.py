"""The README and docs/ stand on their own in a clone: every link is a relative path to a file
of the repository, every ``#anchor`` names a heading of its target (GitHub's anchors), nothing
points outside the clone or cites the product contract's sections, and the README stays a
short front door."""

from pathlib import Path

import pytest

from tools.links import ROOT, broken_links, github_anchor, heading_anchors, links

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_docs_are_there() -> None:
    names = {path.name for path in DOCS}
    assert {"events.md", "kpis.md", "configuration.md", "outputs.md", "guarantees.md",
            "helpdesks.md", "deployment.md", "runbooks.md", "benchmarks.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_link_resolves_inside_the_clone(page: Path) -> None:
    assert list(links(page.read_text())), f"{_name(page)} links nowhere"
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_no_reference_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    for outside in ("../shared", "SPEC §", "SPEC.md", "github.com/example"):
        assert outside not in text, f"{_name(page)} mentions {outside!r}"


def test_the_readme_is_a_front_door() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 150
    targets = set(links(text))
    for page in DOCS:
        assert f"docs/{page.name}" in targets, f"the README does not link {page.name}"


def test_every_doc_is_reachable_from_the_readme_or_another_doc() -> None:
    linked = {(page.parent / target.partition("#")[0]).resolve()
              for page in PAGES for target in links(page.read_text())
              if target.partition("#")[0]}
    assert {page.resolve() for page in DOCS} <= linked


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Connect your helpdesk", "connect-your-helpdesk"),
    ("Choices the definitions leave open", "choices-the-definitions-leave-open"),
    ("HTTP API of a worker", "http-api-of-a-worker"),
    ("FirstResponseSlaAtRisk", "firstresponseslaatrisk"),
    ("`metrics.agent_kpis` and /kpis", "metricsagent_kpis-and-kpis"),
    ("Bots & handoffs: 1h/24h", "bots--handoffs-1h24h"),
    ("Zürich — Öffnungszeiten", "zürich--öffnungszeiten"),
])
def test_github_anchor(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_heading_anchors_number_repeats_and_ignore_code_blocks() -> None:
    text = "# Title\n\n## Do\n\n## Do\n\n```\n# not a heading\n```\n\n## `code` *em*\n"
    assert heading_anchors(text) == {"title", "do", "do-1", "code-em"}


def test_broken_links_are_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Known part\n")
    (tmp_path / "docs" / "file.txt").write_text("text\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#known-part) [self](#page) [dir](../docs) [text](file.txt)\n"
        "[missing](nothing.md) [anchor](other.md#unknown) [own](#nowhere)\n"
        "[outside](../../shared/SPEC.md) [web](https://example.com/x)\n"
        "[anchor in text](file.txt#L1) ![picture](missing.png)\n"
        "`[code](not-a-link.md)`\n")
    assert broken_links(page, root=tmp_path) == [
        "nothing.md: no such file",
        "other.md#unknown: no heading #unknown in docs/other.md",
        "#nowhere: no heading #nowhere in docs/page.md",
        "../../shared/SPEC.md: leaves the clone",
        "https://example.com/x: leaves the clone (an absolute URL)",
        "file.txt#L1: an anchor in a file that is not Markdown",
        "missing.png: no such file",
    ]


def _layout_paths() -> list[str]:
    """The paths at the start of each line of the layout block of docs/architecture.md; a line
    ``dir/a.py, b.py, c.py`` names all three."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Layout"):]
    body = section.split("```\n", 2)[1]
    paths = []
    for line in body.splitlines():
        if not line or line[0].isspace():
            continue  # a description's continuation
        words = line.split()
        names = [words[0]]
        while names[-1].endswith(","):
            names.append(words[len(names)])
        first, *others = [name.rstrip(",") for name in names]
        paths.append(first)
        paths += [str(Path(first).parent / other) for other in others]
    return paths


def test_the_layout_names_existing_paths_and_every_runtime_module() -> None:
    paths = _layout_paths()
    assert [path for path in paths if not list(ROOT.glob(path))] == []
    listed = {match.relative_to(ROOT) for path in paths for match in ROOT.glob(path)}
    directories = {path for path in listed if (ROOT / path).is_dir()}
    modules = {path.relative_to(ROOT) for path in (ROOT / "service").rglob("*.py")
               if path.name != "__init__.py"}
    unlisted = {module for module in modules
                if module not in listed and not any(module.is_relative_to(d) for d in directories)}
    assert unlisted == set(), "modules missing from docs/architecture.md (Layout)"
