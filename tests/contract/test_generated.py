"""Generated files are current: the README's tables come from the KPI registry."""

from service.docs import README, render_sections


def test_readme_generated_sections_are_current() -> None:
    text = README.read_text()
    for name, body in render_sections().items():
        block = f"<!-- generated:{name} -->\n{body}\n<!-- /generated:{name} -->"
        assert block in text, f"README section {name!r} is stale: run `make generate`"


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text


def test_every_alert_has_a_runbook_entry_in_the_readme() -> None:
    import yaml

    rules = yaml.safe_load((README.parent / "deploy" / "prometheus" / "alert_rules.yml")
                           .read_text())
    text = README.read_text()
    names = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert names
    for name in names:
        assert f'<a id="alert-{name.lower()}"></a>`{name}`' in text, name
