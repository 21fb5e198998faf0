"""Process settings from the environment: Kafka, topics, HTTP (SPEC §5: these come from the
environment; the KPI configuration is the YAML file named by ``SUPPORT_KPI_CONFIG``)."""

from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

STORE_SCHEMES = ("memory", "rocksdb")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUPPORT_KPI_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Kafka bootstrap servers, host:port[,host:port]")
    app_id: str = Field(default="support-kpi", description="Consumer group and topic prefix")
    topic: str = Field(default="support.events", description="Input topic of canonical events")
    deltas_topic: str = Field(
        default="", validate_default=True,
        description="Internal topic: the owners' deltas, keyed by owner; by default "
        "`<SUPPORT_KPI_APP_ID>-deltas-v1`, so two deployments never share it (the name "
        "carries the version of its messages)")
    dead_letter_topic: str = Field(default="support.dead-letters",
                                   description="Rejected input, with the reason")
    history_topic: str = Field(
        default="support.history",
        description="What the workers send the history sink: fact changes keyed by "
        "conversation, segment changes keyed by agent (docs/history.md); empty: the workers "
        "send none")
    partitions: int = Field(default=4, ge=1,
                            description="Partitions of the input and internal topics")
    max_message_bytes: int = Field(default=1_048_576, ge=1024,
                                   description="Larger input messages are dead-lettered")
    max_clock_skew_seconds: float = Field(
        default=300, ge=0,
        description="Events dated further ahead of the wall clock go to the dead letters "
        "(reason future)")
    http_host: str = Field(default="127.0.0.1", description="Address of the HTTP server")
    http_port: int = Field(default=8000, ge=0, le=65535, description="Port of the HTTP server")
    token: SecretStr | None = Field(
        default=None, description="Bearer token required by /kpis, /metrics, /conversations, "
        "/explain and the feedback pages (and for the counts in /readyz) when set")
    allow_no_token: bool = Field(
        default=False, description="Serve per-agent data on an address beyond loopback without "
        "SUPPORT_KPI_TOKEN (a trusted network only; logged at every start). Without it, the "
        "worker, the board and the gateway refuse to start that way")
    agent_secret: SecretStr | None = Field(
        default=None, description="Server secret of the agent tokens (HMAC-SHA256 of the agent "
        "id, `support-kpi agent-token AGENT`): each opens only its agent's feedback page")
    store: str = Field(default="memory://",
                       description="Table store: memory:// or rocksdb:// (needs rocksdict)")
    standby_replicas: int = Field(
        default=0, ge=0, description="Standby copies of each table partition kept by other "
        "workers (faust's table_standby_replicas): a worker that takes a partition over from a "
        "failed one has its state at once")
    conversation_cache: int = Field(
        default=20_000, ge=0,
        description="Resolved or closed conversations whose state each stage of a worker keeps "
        "decoded in memory (the latest touched); the others are read back from the tables "
        "when an event comes")
    data_dir: Path = Field(default=Path(".support-kpi"),
                           description="Worker data directory (RocksDB tables)")
    config: Path | None = Field(default=None,
                                description="KPI configuration YAML (docs/configuration.md)")
    workers: str = Field(default="http://127.0.0.1:8000",
                         description="Comma-separated worker URLs that `report`, `queue` and "
                         "`board` merge")
    board_host: str = Field(default="127.0.0.1",
                            description="Address of `support-kpi board` (the wallboard)")
    board_port: int = Field(default=8080, ge=0, le=65535,
                            description="Port of `support-kpi board`")
    board_refresh_s: int = Field(default=15, ge=2, le=3600,
                                 description="Seconds between the board pages' reloads")

    history_host: str = Field(default="127.0.0.1",
                              description="Address of `support-kpi history sink` (its HTTP API)")
    history_port: int = Field(default=8090, ge=0, le=65535,
                              description="Port of `support-kpi history sink`")
    history_url: str = Field(
        default="http://127.0.0.1:8090",
        description="Where the board asks for history (the sink's HTTP API)")

    gateway_host: str = Field(default="127.0.0.1",
                              description="Address of `support-kpi gateway` (webhooks in)")
    gateway_port: int = Field(default=8088, ge=0, le=65535,
                              description="Port of `support-kpi gateway`")
    gateway_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger webhook bodies are refused (413)")
    gateway_secrets_file: Path | None = Field(
        default=None, description="YAML or JSON file: vendor -> webhook secret, or {secret, "
        "tenant}; read with the variables below, the file wins")
    gateway_intercom_secret: SecretStr | None = Field(
        default=None, description="Intercom app's client secret (X-Hub-Signature)")
    gateway_zendesk_secret: SecretStr | None = Field(
        default=None, description="Zendesk webhook signing secret")
    gateway_front_secret: SecretStr | None = Field(
        default=None, description="Front app signing key (or rule webhook API secret)")
    gateway_helpscout_secret: SecretStr | None = Field(
        default=None, description="Help Scout webhook secret key")
    gateway_freshdesk_secret: SecretStr | None = Field(
        default=None, description="Shared secret Freshdesk rules send (basic-auth password or "
        "X-Webhook-Secret)")
    gateway_chatwoot_secret: SecretStr | None = Field(
        default=None, description="Chatwoot webhook secret (X-Chatwoot-Signature)")

    @field_validator("deltas_topic")
    @classmethod
    def _deltas_of_the_app(cls, value: str, info: ValidationInfo) -> str:
        return value or f"{info.data['app_id']}-deltas-v1"

    @field_validator("config", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``SUPPORT_KPI_CONFIG=`` (empty) means the SPEC defaults, as for replay, not the
        current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("token")
    @classmethod
    def _token_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty token would open everything to anyone who sends an empty one."""
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("empty; set a long random string (e.g. `openssl rand -hex 32`) or "
                             "unset it")
        return value

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        """faust's store URL: ``memory://`` or ``rocksdb://``; ValueError otherwise."""
        scheme, separator, _ = value.partition("://")
        if not separator or scheme not in STORE_SCHEMES:
            raise ValueError("unknown store; use memory:// or rocksdb://")
        return value

    @field_validator("http_host")
    @classmethod
    def _host_not_url(cls, value: str) -> str:
        """A host name or address (empty, or a URL, is a ValueError)."""
        if not value.strip():
            raise ValueError("empty; use an address of this machine, e.g. 127.0.0.1, or 0.0.0.0 "
                             "for every interface")
        if "/" in value:
            raise ValueError("a host name or address, not a URL; e.g. 127.0.0.1, or 0.0.0.0 "
                             "for every interface")
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_given(cls, value: object) -> object:
        """An empty value is a ValueError (it would mean the current directory)."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("empty; point it at a writable directory")
        return value

    @field_validator("data_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        """``~`` expanded (faust would create a directory named ``~``)."""
        return value.expanduser()
