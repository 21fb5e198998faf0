"""Gateway secrets: from the environment and a secrets file, never empty, typos named."""

from pathlib import Path

import pytest

from service.gateway.app import GatewayConfigError, load_config
from service.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def test_environment_and_file_are_merged_the_file_winning(tmp_path: Path) -> None:
    file = tmp_path / "secrets.yaml"
    file.write_text("intercom: from-file\nchatwoot: {secret: cw, tenant: acme}\n")
    config = load_config(settings(gateway_intercom_secret="from-env",
                                  gateway_zendesk_secret="zd", gateway_secrets_file=file))
    assert dict(config.secrets) == {"intercom": "from-file", "zendesk": "zd", "chatwoot": "cw"}
    assert dict(config.tenants) == {"chatwoot": "acme"}


@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_secret_is_refused(secret: str) -> None:
    with pytest.raises(GatewayConfigError, match="SUPPORT_KPI_GATEWAY_FRONT_SECRET: the secret "
                                                 "is empty"):
        load_config(settings(gateway_front_secret=secret))


@pytest.mark.parametrize(("text", "message"), [
    ("intercom: ''\n", "intercom: the secret is empty"),
    ("zendsk: s\n", "zendsk: unknown vendor"),
    ("chatwoot: {secret: s, tenat: acme}\n", "chatwoot: unknown key(s) tenat"),
    ("chatwoot: {tenant: acme}\n", "chatwoot: give a secret string"),
    ("- intercom\n", "expected a mapping"),
])
def test_file_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "secrets.yaml"
    file.write_text(text)
    with pytest.raises(GatewayConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(settings(gateway_secrets_file=file))
