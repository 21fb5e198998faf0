"""Generated docs are current: each section between markers in docs/ equals what the code
renders now (the KPI registry, the JSON Schemas, the settings, the alert rules), and the marker
machinery notices a stale or missing section."""

from pathlib import Path

import pytest

from tools.docs import DOCS, GENERATED, render, stale
from tools.markers import block, stale_sections, update_file


def test_every_generated_section_is_current() -> None:
    assert stale() == {}, "generated docs are stale: run `make generate`"


@pytest.mark.parametrize("file_name", sorted(GENERATED))
def test_each_section_appears_once_with_its_markers(file_name: str) -> None:
    text = (DOCS / file_name).read_text()
    for name, body in render(file_name).items():
        assert body.strip(), f"{file_name}: section {name!r} renders nothing"
        assert text.count(f"<!-- generated:{name} -->") == 1, (file_name, name)
        assert text.count(block(name, body)) == 1, (file_name, name)


def test_the_kpi_table_names_every_registry_key() -> None:
    from service.engine.kpis import LIVE_KPIS, WINDOW_KPIS

    table = render("kpis.md")["kpis"]
    for spec in (*WINDOW_KPIS, *LIVE_KPIS):
        assert f"| `{spec.key}`" in table, spec.key


def test_the_settings_table_names_every_variable() -> None:
    from service.settings import Settings

    table = render("configuration.md")["settings"]
    for name, field in Settings.model_fields.items():
        assert f"`{field.validation_alias or 'SUPPORT_KPI_' + name.upper()}`" in table, name


def test_the_event_tables_name_every_type_and_link_its_schema() -> None:
    from schemas.export import render_schemas

    table = render("events.md")["events"]
    for file_name in render_schemas():
        if file_name != "event.schema.json":
            type_name = file_name.removesuffix(".schema.json")
            assert f"| `{type_name}` |" in table, type_name
            assert f"(../schemas/json/{file_name})" in table, file_name


def test_a_changed_section_is_stale_and_update_rewrites_it(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text("# Doc\n\n<!-- generated:t -->\nold\n<!-- /generated:t -->\n\nprose\n")
    assert stale_sections(path.read_text(), {"t": "new"}) == ["t"]
    assert update_file(path, {"t": "new"}) is True
    assert path.read_text() == ("# Doc\n\n<!-- generated:t -->\nnew\n<!-- /generated:t -->\n"
                                "\nprose\n")
    assert stale_sections(path.read_text(), {"t": "new"}) == []
    assert update_file(path, {"t": "new"}) is False


def test_missing_markers_are_stale_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text("# Doc\n")
    assert stale_sections(path.read_text(), {"t": "body"}) == ["t"]
    with pytest.raises(ValueError, match="markers for section 't' are missing"):
        update_file(path, {"t": "body"})


def test_the_readme_shows_the_two_commands() -> None:
    text = (DOCS.parent / "README.md").read_text()
    assert "make demo" in text and "make test" in text
