"""docker-compose.yml, the Dockerfile and the PostgreSQL init script, without
a Docker engine: compose validates the file (`docker compose config` or
docker-compose v1, from make system-tools), every variable a service gets is
one the code reads, every mounted path exists, and the init script really
creates the databases on a private PostgreSQL cluster."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Set

import psycopg2
import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.stores import EnvironmentSQLTrackerStore, StoreSettings
from tests.deploy.conftest import PROJECT_ROOT
from tests.stack_common import free_port

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / "deploy" / "env.example"
DOCKERFILE = PROJECT_ROOT / "docker" / "app.Dockerfile"
INIT_SCRIPT = PROJECT_ROOT / "docker" / "postgres" / "init-databases.sh"
PROJECT_PACKAGES = ("actions", "components", "connectors", "dlq", "staff")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVICES = {"rasa", "actions", "media", "staff", "postgres", "redis", "prometheus", "grafana"}
SECRETS = ("POSTGRES_PASSWORD", "TRACKER_DB_PASSWORD", "ASSISTANT_DB_PASSWORD", "RASA_TOKEN", "QR_SECRET", "GRAFANA_ADMIN_PASSWORD")


def compose_command() -> List[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor docker-compose: run `make system-tools`"
    return [legacy]


def compose_config(directory: Path, env_file: Path = None) -> subprocess.CompletedProcess:
    """``docker compose config`` of directory/docker-compose.yml: validates and renders it."""
    environ = {key: value for key, value in os.environ.items() if key not in SECRETS}
    env_args = ["--env-file", str(env_file)] if env_file else []
    return subprocess.run(
        [*compose_command(), "--project-directory", str(directory), "-f", str(directory / "docker-compose.yml"), *env_args, "config"],
        capture_output=True, text=True, timeout=120, env=environ,
    )


@pytest.fixture(scope="module")
def compose() -> Dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def string_literals(package: Path) -> Set[str]:
    literals = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
    return literals


def settings_prefixes(package: Path) -> Set[str]:
    """Prefixes of connectors' ``SettingsSource("WHATSAPP", ...)`` (they read WHATSAPP_<NAME>)."""
    prefixes = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "SettingsSource"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                prefixes.add(node.args[0].value)
    return prefixes


@pytest.fixture(scope="module")
def variables_the_code_reads() -> Set[str]:
    names = set()
    for package_name in PROJECT_PACKAGES:
        package = PROJECT_ROOT / package_name
        if not package.is_dir():
            continue
        literals = string_literals(package)
        names |= {literal for literal in literals if re.fullmatch(r"[A-Z][A-Z0-9_]+", literal)}
        for prefix in settings_prefixes(package):
            names |= {f"{prefix}_{literal.upper()}" for literal in literals if re.fullmatch(r"[a-z][a-z0-9_]*", literal)}
    # Rasa expands ${NAME} in endpoints.yml itself
    names |= set(re.findall(r"\$\{([A-Z0-9_]+)\}", (PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8")))
    return names


def test_compose_file_is_valid_for_docker_compose():
    result = compose_config(PROJECT_ROOT, env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == SERVICES
    rasa_environment = rendered["services"]["rasa"]["environment"]
    assert rasa_environment["TRACKER_STORE_URL"] == "postgresql://rasa:change-me@postgres:5432/rasa"
    assert rasa_environment["LOCK_STORE_URL"] == "redis://redis:6379/1"
    assert rasa_environment["ACTION_ENDPOINT_URL"] == "http://actions:5055/webhook"


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")  # no .env next to it
    result = compose_config(tmp_path)
    assert result.returncode != 0
    assert re.search(r"set (POSTGRES|TRACKER_DB|ASSISTANT_DB)_PASSWORD in \.env", result.stderr)


def test_env_example_sets_every_mandatory_variable(compose):
    mandatory = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text(encoding="utf-8")))
    assert set(SECRETS) <= mandatory
    example = set(re.findall(r"^([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE))
    assert mandatory <= example


@pytest.mark.parametrize("service", ["rasa", "actions", "media", "staff"])
def test_application_services_get_only_variables_the_code_reads(compose, variables_the_code_reads, service):
    environment = set(compose["services"][service]["environment"])
    # SANIC_* settings are read by Sanic itself (its config loads that prefix)
    unread = {name for name in environment if not name.startswith("SANIC_")} - variables_the_code_reads
    assert not unread, f"{service}: no code reads {sorted(unread)}"


def test_the_variable_check_notices_an_unknown_name(variables_the_code_reads):
    assert "WHATSAPP_ACCESS_TOKEN" in variables_the_code_reads  # via SettingsSource("WHATSAPP") + "access_token"
    assert {"QR_SECRET", "TRACKER_STORE_URL", "LOCK_STORE_URL", "ACTION_ENDPOINT_URL"} <= variables_the_code_reads
    assert "WHATSAPP_ACCES_TOKEN" not in variables_the_code_reads
    assert "PMS_URL" not in variables_the_code_reads


def test_infrastructure_services_get_variables_their_images_or_scripts_read(compose):
    init_script = INIT_SCRIPT.read_text(encoding="utf-8")
    for name in compose["services"]["postgres"]["environment"]:
        assert name.startswith("POSTGRES_") or f"${{{name}" in init_script, name
    for name in compose["services"]["grafana"]["environment"]:
        assert name.startswith("GF_"), name


def bind_mounts(compose: Dict) -> Iterator[tuple]:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                yield name, PROJECT_ROOT / source, target


def test_mounted_files_and_directories_exist(compose):
    model_dir = PROJECT_ROOT / "models"
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    mounts = list(bind_mounts(compose))
    assert len(mounts) >= 8
    for service, source, target in mounts:
        if source.resolve() == model_dir.resolve():
            # created by `make train`, which writes the model the rasa command loads
            assert re.search(r"^MODEL := models/hotel\.tar\.gz$", makefile, re.MULTILINE)
            assert "--model models/hotel.tar.gz" in " ".join(compose["services"]["rasa"]["command"])
            continue
        assert source.exists(), f"{service} mounts {source}, which does not exist"
        if Path(target).suffix:  # a file mounted onto a file path
            assert source.is_file(), f"{service}: {source} should be a file for {target}"
    assert os.access(INIT_SCRIPT, os.X_OK)


def test_mounts_match_what_prometheus_and_grafana_load(compose):
    mounts = {(service, target): source for service, source, target in bind_mounts(compose)}
    prometheus_dir = mounts[("prometheus", "/etc/prometheus")]
    assert (prometheus_dir / "prometheus.yml").is_file() and (prometheus_dir / "alerts.yml").is_file()
    assert "--config.file=/etc/prometheus/prometheus.yml" in compose["services"]["prometheus"]["command"]
    provisioning = mounts[("grafana", "/etc/grafana/provisioning")]
    provider = yaml.safe_load((provisioning / "dashboards" / "assistant.yml").read_text())["providers"][0]
    dashboards = mounts[("grafana", provider["options"]["path"])]
    assert (dashboards / "assistant.json").is_file()


def test_rasa_serves_the_metrics_prometheus_scrapes():
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert "connectors.metrics.MetricsInput" in credentials  # GET /webhooks/metrics/
    assert "rest" in credentials


def test_rasa_runs_the_api_with_a_token_and_the_shared_files(compose):
    command = " ".join(compose["services"]["rasa"]["command"])
    assert "rasa run --enable-api" in command and '--auth-token "$$RASA_TOKEN"' in command
    assert "--endpoints endpoints.yml" in command and "--credentials credentials.yml" in command
    assert compose["services"]["actions"]["command"][:3] == ["python", "-m", "actions.server"]


def test_redis_keeps_an_append_only_file_and_postgres_has_a_healthcheck(compose):
    redis_command = compose["services"]["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in compose["services"]["redis"]["volumes"])
    assert "pg_isready" in " ".join(compose["services"]["postgres"]["healthcheck"]["test"])
    assert compose["services"]["rasa"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_installs_the_lock_on_python_310_and_copies_existing_paths():
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    assert lines[[i for i, line in enumerate(lines) if line.startswith("FROM")][0]] == "FROM python:3.10-slim"
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "pip install -r requirements.lock" in text
    for line in lines:
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (PROJECT_ROOT / source).exists(), f"COPY {source}: not in the repository"


# --- the init script on a private PostgreSQL cluster ---------------------------------


@pytest.fixture
def private_postgres() -> Iterator[Dict]:
    """A throwaway PostgreSQL 15 cluster (initdb + pg_ctl) with password auth over TCP."""
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    directory = Path(tempfile.mkdtemp(prefix="deploy-pg-"))
    if as_postgres:
        shutil.chown(directory, "postgres", "postgres")
    data, port = directory / "data", free_port()
    subprocess.run(
        [*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
         "--auth-local=trust", "--auth-host=scram-sha-256"],
        check=True, capture_output=True, timeout=120,
    )
    subprocess.run(
        [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(directory / "log"),
         "-o", f"-p {port} -k {directory} -c listen_addresses=127.0.0.1", "start"],
        check=True, capture_output=True, timeout=120,
    )
    try:
        yield {"socket_dir": str(directory), "port": port}
    finally:
        subprocess.run([*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


async def test_init_script_creates_the_databases_and_rasa_stores_trackers_there(private_postgres, monkeypatch):
    tracker_password, assistant_password = f"t{uuid.uuid4().hex}", f"a{uuid.uuid4().hex}"
    environ = dict(os.environ, POSTGRES_USER="postgres", PGHOST=private_postgres["socket_dir"],
                   PGPORT=str(private_postgres["port"]),
                   TRACKER_DB_PASSWORD=tracker_password, ASSISTANT_DB_PASSWORD=assistant_password)
    result = subprocess.run(["bash", str(INIT_SCRIPT)], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert tracker_password not in result.stdout + result.stderr

    def connect(user: str, password: str, database: str):
        return psycopg2.connect(host="127.0.0.1", port=private_postgres["port"], user=user, password=password, dbname=database)

    for database in ("assistant", "pms"):
        connect("assistant", assistant_password, database).close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        connect("rasa", "wrong-password", "rasa")
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        connect("rasa", tracker_password, "assistant")

    monkeypatch.setenv("TRACKER_STORE_URL", f"postgresql://rasa:{tracker_password}@127.0.0.1:{private_postgres['port']}/rasa")
    monkeypatch.delenv("LOCK_STORE_URL", raising=False)
    monkeypatch.delenv("SANIC_WORKERS", raising=False)
    store = EnvironmentSQLTrackerStore(domain=Domain.empty(), settings=StoreSettings.from_env())
    tracker = DialogueStateTracker.from_events("guest-compose", [ActionExecuted("action_listen"), UserUttered("hola")])
    await store.save(tracker)
    restored = await store.retrieve("guest-compose")
    store.engine.dispose()
    assert [event.as_dict() for event in restored.events] == [event.as_dict() for event in tracker.events]


def test_init_script_refuses_to_run_without_passwords():
    environ = {key: value for key, value in os.environ.items() if not key.endswith("_DB_PASSWORD")}
    result = subprocess.run(["bash", str(INIT_SCRIPT)], env=environ, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "set TRACKER_DB_PASSWORD" in result.stderr
