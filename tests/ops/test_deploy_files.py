"""The deployment files (Dockerfile, .dockerignore, deploy/compose.yaml, deploy/k8s/) agree with
the code: the console script, the CLI subcommands, the settings' environment names, the HTTP port
and routes. There is no container engine here, so these checks are all the validation they get."""

import argparse
import glob
import importlib
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.cli import build_parser
from service.config import load_config
from service.settings import Settings
from tools.runbooks import DEFAULT_BASE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
K8S_FILES = sorted(K8S.glob("*.yaml"))
WEB = ROOT / "service" / "stream" / "web.py"

TOKEN = "SUPPORT_KPI_TOKEN"
LOCALHOST = "127.0.0.1"
CONTAINER_DATA_DIR = "/data"


# --- what the code defines -------------------------------------------------------------------

def known_env_names() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


KNOWN_ENV = known_env_names()
DEFAULT_PORT: int = Settings.model_fields["http_port"].default
HTTP_PATHS = set(re.findall(r'@app\.page\("([^"]+)"\)', WEB.read_text()))


def cli_commands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("build_parser() has no subcommands")


def assert_cli_accepts(argv: list[str], where: str) -> None:
    assert argv and argv[0] in cli_commands(), f"{where}: {argv} is not a support-kpi subcommand"
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `support-kpi {shlex.join(argv)}` is rejected by the CLI")


def test_the_code_facts_these_tests_rely_on() -> None:
    assert {"KAFKA_BOOTSTRAP_SERVERS", TOKEN, "SUPPORT_KPI_HTTP_HOST", "SUPPORT_KPI_HTTP_PORT",
            "SUPPORT_KPI_STORE", "SUPPORT_KPI_DATA_DIR", "SUPPORT_KPI_CONFIG"} <= KNOWN_ENV
    assert DEFAULT_PORT == 8000
    assert {"/healthz", "/readyz", "/metrics", "/kpis"} <= HTTP_PATHS
    assert {"worker", "simulate"} <= cli_commands()


# --- Dockerfile ------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def instruction_args(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile_instructions() if kw == keyword]


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instruction_args("ENV"):
        for item in shlex.split(rest):
            name, sep, value = item.partition("=")
            assert sep, f"use ENV NAME=value: {rest}"
            env[name] = value
    return env


def resolve_args(text: str) -> str:
    defaults = {}
    for rest in instruction_args("ARG"):
        name, _, value = rest.partition("=")
        defaults[name] = value
    return re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), text)


def test_dockerfile_uses_python_311_slim() -> None:
    images = [resolve_args(rest.split()[0]) for rest in instruction_args("FROM")]
    assert images and all(image == "python:3.11-slim" for image in images), images


def test_dockerfile_installs_the_package_with_rocksdb_from_the_copied_source() -> None:
    copied = " ".join(instruction_args("COPY"))
    for source in ("pyproject.toml", "README.md", "service/", "schemas/"):
        assert source in copied.split(), f"Dockerfile does not COPY {source}"
    runs = " ".join(instruction_args("RUN"))
    assert re.search(r'pip install --no-cache-dir "?\.\[rocksdb\]"?', runs), runs
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "rocksdb" in pyproject["project"]["optional-dependencies"]


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = instruction_args("USER")
    assert users, "Dockerfile has no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # The runtime stage's USER comes after its FROM.
    kinds = [kw for kw, _ in dockerfile_instructions()]
    assert max(i for i, kw in enumerate(kinds) if kw == "USER") > max(
        i for i, kw in enumerate(kinds) if kw == "FROM")


def test_entrypoint_is_the_console_script() -> None:
    (entrypoint,) = instruction_args("ENTRYPOINT")
    assert exec_form(entrypoint) == ["support-kpi"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["support-kpi"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_default_command_is_the_worker() -> None:
    (cmd,) = instruction_args("CMD")
    argv = exec_form(cmd)
    assert argv == ["worker"]
    assert_cli_accepts(argv, "Dockerfile CMD")


def test_image_listens_on_all_interfaces_on_the_exposed_port() -> None:
    env = dockerfile_env()
    ours = {name for name in env if name.startswith(("SUPPORT_KPI_", "KAFKA_"))}
    assert ours <= KNOWN_ENV, ours - KNOWN_ENV
    assert env["SUPPORT_KPI_HTTP_HOST"] == "0.0.0.0"
    port = int(env.get("SUPPORT_KPI_HTTP_PORT", DEFAULT_PORT))
    assert port == DEFAULT_PORT
    assert instruction_args("EXPOSE") == [str(port)]
    assert TOKEN not in env
    text = DOCKERFILE.read_text()
    assert re.search(r"^\s*#.*all interfaces", text, re.MULTILINE | re.IGNORECASE), \
        "say why the image sets SUPPORT_KPI_HTTP_HOST=0.0.0.0"


def test_healthcheck_probes_healthz_with_python() -> None:
    (check,) = instruction_args("HEALTHCHECK")
    command = exec_form(check[check.index("CMD") + len("CMD"):].strip())
    assert command[0] == "python" and "urllib.request" in command[-1]
    urls = re.findall(r"http://[^'\"\s]+", command[-1])
    assert len(urls) == 1
    url = urlsplit(urls[0])
    assert url.hostname == LOCALHOST
    assert url.port == int(dockerfile_env().get("SUPPORT_KPI_HTTP_PORT", DEFAULT_PORT))
    assert url.path == "/healthz" and url.path in HTTP_PATHS
    assert "curl" not in check and "wget" not in check


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    required = {".venv", ".git", ".demo", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                ".hypothesis", "bench/results.json", ".env"}
    assert required <= patterns, required - patterns
    assert not {p for p in patterns if p.startswith("!")}, "no re-includes expected"
    # Nothing the Dockerfile copies is ignored.
    for source in ("pyproject.toml", "README.md", "service", "schemas"):
        assert source not in patterns


# --- deploy/compose.yaml ---------------------------------------------------------------------

def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def project_services() -> dict[str, dict[str, Any]]:
    """The services that run the support-kpi image (built from the Dockerfile)."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def workers() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in project_services().items()
            if svc.get("command", ["worker"])[0] == "worker"}


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def inline_config(name: str) -> dict[str, Any]:
    data = yaml.safe_load(compose()["configs"][name]["content"])
    assert isinstance(data, dict)
    return data


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume entry, short or long syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            source, target = str(volume).split(":")[:2]
            mounts.append((source, target))
    return mounts


def container_targets(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host/volume source, for volumes and configs."""
    targets = {target: source for source, target in volume_mounts(service)}
    for config in service.get("configs", []):
        targets[config["target"]] = f"config:{config['source']}"
    return targets


def port_mappings(service: dict[str, Any]) -> Iterator[tuple[str | None, str, int]]:
    """(host ip, host port, container port) of each published port."""
    for port in service.get("ports", []):
        if isinstance(port, dict):
            yield port.get("host_ip"), str(port.get("published")), int(port["target"])
            continue
        parts = str(port).split("/")[0].split(":")
        ip = parts[0] if len(parts) == 3 else None
        yield ip, parts[-2] if len(parts) >= 2 else "", int(parts[-1])


def test_compose_parses_with_its_inline_configs() -> None:
    data = compose()
    for name in data.get("configs", {}):
        inline_config(name)
    assert {"kafka", "prometheus", "alertmanager", "grafana"} <= set(data["services"])
    assert len(workers()) == 2


def test_compose_builds_the_repository_dockerfile() -> None:
    for name, service in project_services().items():
        build = service["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile",
                                                                           "Dockerfile")
        assert (DEPLOY / context).resolve() == ROOT, name
        assert (DEPLOY / context / dockerfile).resolve() == DOCKERFILE, name
        assert "entrypoint" not in service, f"{name}: keep the image's support-kpi entrypoint"


def test_compose_commands_are_cli_subcommands() -> None:
    commands = {}
    for name, service in project_services().items():
        argv = service.get("command") or exec_form(instruction_args("CMD")[0])
        assert isinstance(argv, list), f"{name}: use the exec form for command"
        assert_cli_accepts(argv, f"compose service {name}")
        commands[name] = argv
    assert ["simulate"] in commands.values(), "the simulator's calm desk, sized to its staff"
    simulator = next(n for n, argv in commands.items() if argv[0] == "simulate")
    assert project_services()[simulator].get("healthcheck", {}).get("disable") is True, \
        "the simulator serves no /healthz: disable the image's healthcheck"


def test_compose_environment_names_are_settings() -> None:
    for name, service in project_services().items():
        unknown = set(env_of(service)) - KNOWN_ENV
        assert not unknown, f"{name}: unknown settings {sorted(unknown)}"


def test_compose_workers_listen_on_all_interfaces_and_keep_rocksdb_in_a_volume() -> None:
    declared_volumes = set(compose().get("volumes") or {})
    sources = set()
    for name, service in workers().items():
        env = env_of(service)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert env["SUPPORT_KPI_HTTP_HOST"] == "0.0.0.0", name
        assert env["SUPPORT_KPI_STORE"] == "rocksdb://", name
        data_dir = env["SUPPORT_KPI_DATA_DIR"]
        assert data_dir == CONTAINER_DATA_DIR, name
        source = container_targets(service).get(data_dir)
        assert source in declared_volumes, f"{name}: {data_dir} is not a named volume"
        sources.add(source)
        port = int(env.get("SUPPORT_KPI_HTTP_PORT", DEFAULT_PORT))
        assert [container for _, _, container in port_mappings(service)] == [port], name
    assert len(sources) == len(workers()), "each worker needs its own data volume"
    published = sorted(host for svc in workers().values() for _, host, _ in port_mappings(svc))
    assert published == ["8001", "8002"]


def test_compose_publishes_ports_on_localhost_only() -> None:
    for name, service in compose()["services"].items():
        for ip, host, container in port_mappings(service):
            assert ip == LOCALHOST, f"{name}: {host}:{container} must be bound to {LOCALHOST}"


def test_compose_kafka_is_a_single_kraft_node() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.1"
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1", key
    for name, service in project_services().items():
        assert env_of(service)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_compose_prometheus_scrapes_every_worker_and_loads_the_shared_rules() -> None:
    services = compose()["services"]
    prometheus = services["prometheus"]
    targets = container_targets(prometheus)
    config_target = "/etc/prometheus/prometheus.yml"
    config_name = targets[config_target].removeprefix("config:")
    config = inline_config(config_name)
    scraped = {
        target
        for job in config["scrape_configs"] if job["job_name"] == "support-kpi"
        for static in job["static_configs"] for target in static["targets"]
    }
    expected = set()
    for name, service in workers().items():
        port = int(env_of(service).get("SUPPORT_KPI_HTTP_PORT", DEFAULT_PORT))
        expected.add(f"{service.get('hostname', name)}:{port}")
    assert scraped == expected
    (rules,) = config["rule_files"]
    rules_dir, pattern = rules.rsplit("/", 1)
    assert pattern == "*_rules.yml"
    assert targets[rules_dir] == "./prometheus"
    alertmanagers = {
        target for am in config["alerting"]["alertmanagers"]
        for static in am["static_configs"] for target in static["targets"]
    }
    assert alertmanagers == {"alertmanager:9093"}
    alertmanager_config = inline_config(
        container_targets(services["alertmanager"])["/etc/alertmanager/alertmanager.yml"]
        .removeprefix("config:"))
    receivers = {r["name"] for r in alertmanager_config["receivers"]}
    assert alertmanager_config["route"]["receiver"] in receivers


def test_compose_prometheus_sets_the_runbook_base_from_the_environment() -> None:
    """The alerts' runbook links start at $SUPPORT_KPI_RUNBOOK_BASE, by default the docs
    directory of the repository, as without the label (docs/deployment.md)."""
    targets = container_targets(compose()["services"]["prometheus"])
    config = inline_config(targets["/etc/prometheus/prometheus.yml"].removeprefix("config:"))
    label = config["global"]["external_labels"]["runbook_base"]
    assert label == "${SUPPORT_KPI_RUNBOOK_BASE:-" + DEFAULT_BASE + "}"


def test_compose_servers_listening_beyond_loopback_have_the_token() -> None:
    """Workers and the board listen on every interface inside the compose network, so they
    refuse to start without the operator token (service.access): compose takes it from the
    environment, and Prometheus sends it on every scrape."""
    services = compose()["services"]
    for name in [*workers(), "board"]:
        env = env_of(services[name])
        assert env[TOKEN].startswith("${SUPPORT_KPI_TOKEN?"), name
        assert "SUPPORT_KPI_ALLOW_NO_TOKEN" not in env, name
    config = inline_config(container_targets(services["prometheus"])[
        "/etc/prometheus/prometheus.yml"].removeprefix("config:"))
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "support-kpi"]
    assert job["authorization"] == {"type": "Bearer", "credentials": "${SUPPORT_KPI_TOKEN}"}


def test_compose_grafana_has_no_anonymous_access_and_no_password_in_the_repo() -> None:
    grafana = compose()["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:11.")
    env = env_of(grafana)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    # Required from the environment, no default value: ${NAME} or ${NAME:?message}.
    assert re.fullmatch(r"\$\{[A-Z_]+(:?\?[^}]*)?\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    targets = container_targets(grafana)
    assert targets["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert targets["/var/lib/grafana/dashboards"] == "./grafana/dashboards"


def test_compose_bind_mounts_exist() -> None:
    """The files owned by deploy/prometheus and deploy/grafana that compose mounts."""
    for name, service in compose()["services"].items():
        for source, target in volume_mounts(service):
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} (for {target}) is missing"
    assert glob.glob(str(DEPLOY / "prometheus" / "*_rules.yml")), "no deploy/prometheus rules"


def test_grafana_provisioning_points_at_the_compose_services() -> None:
    """The datasource URL names the compose Prometheus; dashboards load from the mount."""
    services = compose()["services"]
    datasources = sorted((DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.y*ml"))
    providers = sorted((DEPLOY / "grafana" / "provisioning" / "dashboards").glob("*.y*ml"))
    assert datasources and providers, "deploy/grafana/provisioning lacks datasources/dashboards"
    urls = [ds["url"] for f in datasources
            for ds in yaml.safe_load(f.read_text()).get("datasources", [])
            if ds.get("type") == "prometheus"]
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.hostname in services and parts.port == 9090, url
    paths = {p["options"]["path"] for f in providers
             for p in yaml.safe_load(f.read_text()).get("providers", [])}
    assert paths == {"/var/lib/grafana/dashboards"}


# --- deploy/k8s ------------------------------------------------------------------------------

def k8s_docs() -> list[dict[str, Any]]:
    docs = []
    for path in K8S_FILES:
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return docs


def k8s(kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [doc for doc in k8s_docs()
            if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]


def workload(component: str) -> dict[str, Any]:
    (found,) = [doc for doc in k8s("StatefulSet") + k8s("Deployment")
                if doc["spec"]["template"]["metadata"]["labels"].get(
                    "app.kubernetes.io/component") == component]
    return found


def worker_workload() -> dict[str, Any]:
    return workload("worker")


def worker_container() -> dict[str, Any]:
    (container,) = worker_workload()["spec"]["template"]["spec"]["containers"]
    return container


def env_configmap() -> dict[str, str]:
    (ref,) = [e["configMapRef"]["name"] for e in worker_container()["envFrom"]]
    (configmap,) = k8s("ConfigMap", ref)
    return {str(k): str(v) for k, v in configmap["data"].items()}


def test_k8s_files_parse() -> None:
    assert {p.name for p in K8S_FILES} >= {"workers.yaml", "service.yaml", "configmap.yaml",
                                           "board.yaml"}
    for doc in k8s_docs():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
    assert not k8s("Secret"), "no Secret manifests (and so no secret values) in the repository"


def test_k8s_worker_args_are_a_cli_subcommand() -> None:
    container = worker_container()
    assert "command" not in container, "keep the image's support-kpi entrypoint"
    assert container["args"] == ["worker"]
    assert_cli_accepts(container["args"], "k8s worker args")


def test_k8s_environment_names_are_settings() -> None:
    unknown = set(env_configmap()) - KNOWN_ENV
    assert not unknown, sorted(unknown)
    names = {e["name"] for e in worker_container().get("env", [])}
    assert not names - KNOWN_ENV, sorted(names - KNOWN_ENV)


def test_k8s_configmap_configures_a_reachable_rocksdb_worker() -> None:
    env = env_configmap()
    assert env["KAFKA_BOOTSTRAP_SERVERS"]
    assert int(env["SUPPORT_KPI_PARTITIONS"]) >= worker_workload()["spec"]["replicas"]
    assert env["SUPPORT_KPI_HTTP_HOST"] == "0.0.0.0"
    assert env["SUPPORT_KPI_STORE"] == "rocksdb://"
    assert env["SUPPORT_KPI_DATA_DIR"] == CONTAINER_DATA_DIR
    mounts = {m["mountPath"]: m["name"] for m in worker_container()["volumeMounts"]}
    claims = {t["metadata"]["name"] for t in worker_workload()["spec"].get(
        "volumeClaimTemplates", [])}
    volumes = {v["name"]: v for v in worker_workload()["spec"]["template"]["spec"]["volumes"]}
    data_volume = mounts[CONTAINER_DATA_DIR]
    assert data_volume in claims or "persistentVolumeClaim" in volumes.get(data_volume, {})


def test_k8s_kpi_config_is_mounted_and_valid(tmp_path: Path) -> None:
    config_path = Path(env_configmap()["SUPPORT_KPI_CONFIG"])
    mounts = {m["mountPath"]: m["name"] for m in worker_container()["volumeMounts"]}
    volume_name = mounts[str(config_path.parent)]
    volumes = {v["name"]: v for v in worker_workload()["spec"]["template"]["spec"]["volumes"]}
    (configmap,) = k8s("ConfigMap", volumes[volume_name]["configMap"]["name"])
    text = configmap["data"][config_path.name]
    local = tmp_path / config_path.name
    local.write_text(text)
    load_config(local)  # raises ConfigError with the key path when the YAML is wrong


def test_k8s_token_comes_from_a_secret() -> None:
    (token,) = [e for e in worker_container()["env"] if e["name"] == TOKEN]
    assert "value" not in token
    assert {"name", "key"} <= set(token["valueFrom"]["secretKeyRef"])
    assert TOKEN not in env_configmap()


def test_k8s_ports_and_probes_match_the_service() -> None:
    container = worker_container()
    port = int(env_configmap().get("SUPPORT_KPI_HTTP_PORT", DEFAULT_PORT))
    assert port == DEFAULT_PORT
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port}
    probes = {}
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind not in container:
            continue
        get = container[kind]["httpGet"]
        assert get["port"] in (port, "http"), kind
        assert get["path"] in HTTP_PATHS, kind
        probes[kind] = get["path"]
    assert probes["livenessProbe"] == "/healthz"
    assert probes["readinessProbe"] == "/readyz"
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert {"cpu", "memory"} <= set(resources["limits"])


def test_k8s_service_exposes_the_workers() -> None:
    (service,) = k8s("Service", "support-kpi")
    pod_labels = worker_workload()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["name"] == "http" and port["port"] == DEFAULT_PORT
    assert port.get("targetPort", port["port"]) in ("http", DEFAULT_PORT)
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == DEFAULT_PORT
    assert annotations.get("prometheus.io/path", "/metrics") in HTTP_PATHS
    if worker_workload()["kind"] == "StatefulSet":
        assert worker_workload()["spec"]["serviceName"] == service["metadata"]["name"]


def test_k8s_workers_run_as_non_root() -> None:
    pod = worker_workload()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser", 1) != 0
    assert worker_container()["securityContext"]["allowPrivilegeEscalation"] is False


def test_k8s_board_asks_every_worker_on_its_own_service() -> None:
    """The board (issue 14): the CLI's ``board``, the workers' URLs from the shared ConfigMap,
    its settings by name, the token from the Secret, probes and a Service on its port, not
    root."""
    board = workload("board")
    (container,) = board["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["board"] and "command" not in container
    assert_cli_accepts(container["args"], "k8s board args")
    env = {e["name"]: e for e in container["env"]}
    assert not set(env) - KNOWN_ENV, sorted(set(env) - KNOWN_ENV)
    assert env["SUPPORT_KPI_BOARD_HOST"]["value"] == "0.0.0.0"
    port = int(env["SUPPORT_KPI_BOARD_PORT"]["value"])
    assert "secretKeyRef" in env[TOKEN]["valueFrom"]
    assert [e["configMapRef"]["name"] for e in container["envFrom"]] == ["support-kpi-env"]
    assert env_configmap()["SUPPORT_KPI_WORKERS"].count("http://") == worker_workload()[
        "spec"]["replicas"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": port}
    for kind in ("livenessProbe", "readinessProbe"):
        assert container[kind]["httpGet"] == {"path": "/healthz", "port": "http"}, kind
    (service,) = k8s("Service", "support-kpi-board")
    labels = board["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert "worker" not in service["spec"]["selector"].values()
    assert board["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_compose_board_listens_in_its_container_and_publishes_on_localhost() -> None:
    (board,) = [svc for svc in project_services().values() if svc["command"][0] == "board"]
    env = env_of(board)
    assert env["SUPPORT_KPI_BOARD_HOST"] == "0.0.0.0"
    port = env["SUPPORT_KPI_BOARD_PORT"]
    assert [(host, container) for _, host, container in port_mappings(board)] == [
        ("8080", int(port))]
    assert env["SUPPORT_KPI_WORKERS"] == ",".join(
        f"http://{name}:{DEFAULT_PORT}" for name in sorted(workers()))
    assert f"127.0.0.1:{port}/healthz" in " ".join(board["healthcheck"]["test"])


# --- no secrets anywhere ---------------------------------------------------------------------

def deploy_text_files() -> list[Path]:
    files = [DOCKERFILE, DOCKERIGNORE]
    files += [p for p in DEPLOY.rglob("*") if p.is_file()
              and p.suffix in {".yaml", ".yml", ".json", ".env", ".ini", ".toml", ".properties"}]
    return files


@pytest.mark.parametrize("path", deploy_text_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_token_value_in_the_repository(path: Path) -> None:
    text = path.read_text()
    # NAME: value, NAME=value, "NAME": "value" with a literal (not ${...}) value.
    literal = re.compile(rf"""{TOKEN}["']?\s*[:=]\s*["']?(?!\$\{{)[^\s"'$]""")
    assert not literal.search(text), f"{path}: {TOKEN} has a literal value"


def test_compose_sets_no_token_and_no_literal_passwords() -> None:
    for name, service in compose()["services"].items():
        for key, value in env_of(service).items():
            assert key != TOKEN or value.startswith("${"), name
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                assert value.startswith("${"), f"{name}: {key} must come from the environment"
