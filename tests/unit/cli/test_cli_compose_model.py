"""Compose project loading: interpolation, names, dependency order and container configuration."""
import pytest

from cli.compose.model import interpolate, load, normalize_project_name
from cli.errors import CLIError


def test_interpolation_forms():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("$SET ${SET} $$SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${SET:+alt} ${UNSET+alt}", env) == \
        "v v $SET d d  alt "
    assert interpolate({"k": ["${SET}", 1, None]}, env) == {"k": ["v", 1, None]}
    with pytest.raises(CLIError, match="required variable UNSET is missing a value: need it"):
        interpolate("${UNSET:?need it}", env)
    with pytest.raises(CLIError, match="invalid interpolation format"):
        interpolate("${bad name}", env, "services.web.image")


def test_project_name_normalization():
    assert normalize_project_name("My_App.v2") == "my_appv2"
    assert normalize_project_name("--x") == "x"


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    for k in ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "TAG"):
        monkeypatch.delenv(k, raising=False)
    (tmp_path / ".env").write_text("TAG=1.2\n# comment\nexport QUOTED='q v'\n")
    (tmp_path / "compose.yaml").write_text("""
name: Demo
services:
  app:
    image: "repo/app:${TAG}"
    command: echo "hello world"
    environment:
      - A=1
      - QUOTED
    ports: ["8080:80", {target: 53, published: 5353, protocol: udp, host_ip: 127.0.0.1}]
    volumes: [data:/data, ./conf:/etc/conf:ro, /anon]
    depends_on: [db]
    networks: {front: {aliases: [api]}, back: null}
    healthcheck: {test: "curl -f localhost", interval: 5s, retries: 3}
    restart: on-failure:2
  db:
    image: busybox
volumes:
  data:
  ext: {external: true, name: shared}
networks:
  front:
  back:
""")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_load_and_create_body(project_dir):
    p = load([])
    assert p.name == "demo" and p.working_dir == str(project_dir)
    assert [s.name for s in p.ordered()] == ["db", "app"]
    assert p.volume_name("data") == "demo_data" and p.volume_name("ext") == "shared"
    app = p.services["app"]
    body = app.create_body()
    assert body["Image"] == "repo/app:1.2" and body["Cmd"] == ["echo", "hello world"]
    assert body["Env"] == ["A=1", "QUOTED=q v"]
    assert body["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                                  "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]}
    assert body["HostConfig"]["Binds"] == ["demo_data:/data", f"{project_dir}/conf:/etc/conf:ro"]
    assert body["Volumes"] == {"/anon": {}}
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5_000_000_000,
                                   "Timeout": 0, "StartPeriod": 0, "Retries": 3}
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert body["HostConfig"]["NetworkMode"] == "demo_front"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"demo_front": {"Aliases": ["app", "demo-app-1", "api"]}}}
    labels = body["Labels"]
    assert labels["com.docker.compose.project"] == "demo" and labels["com.docker.compose.service"] == "app"
    assert labels["com.docker.compose.config-hash"] == app.config_hash()
    assert app.container_name == "demo-app-1"


def test_errors(project_dir, tmp_path_factory, monkeypatch):
    p = load([], project_name="other")
    assert p.name == "other"
    with pytest.raises(CLIError, match="no such service: nope"):
        p.ordered(["nope"])
    empty = tmp_path_factory.mktemp("empty")
    monkeypatch.chdir(empty)
    with pytest.raises(CLIError, match="no configuration file provided: not found"):
        load([])  # searched here and in every parent directory
    (empty / "compose.yaml").write_text("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: y\n    depends_on: [a]\n")
    with pytest.raises(CLIError, match="dependency cycle detected"):
        load([]).ordered()


def test_unset_variables_are_collected_for_the_warning():
    missing: list[str] = []
    assert interpolate({"a": "${NOPE}-$NOPE2-${DEF:-d}"}, {}, missing=missing) == {"a": "--d"}
    assert missing == ["NOPE", "NOPE2"]


def test_schema_errors_name_the_key_and_line(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    f = tmp_path / "compose.yml"
    f.write_text("services:\n  web:\n    image: busybox\n\n  db:\n    image: busybox\n    port: [1]\n")
    with pytest.raises(CLIError, match=r"services\.db additional properties 'port' not allowed \(line 7\)"):
        load([str(f)])
    f.write_text("services:\n  web:\n    image: busybox\n    environment: 3\n")
    with pytest.raises(CLIError, match=r"services\.web\.environment must be a mapping or a list \(line 4\)"):
        load([str(f)])
    f.write_text("servics:\n  web:\n    image: busybox\n")
    with pytest.raises(CLIError, match=r"\(root\) additional properties 'servics' not allowed \(line 1\)"):
        load([str(f)])


def test_profiles_and_env_files(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    monkeypatch.delenv("X", raising=False)
    (tmp_path / "compose.yml").write_text(
        "services:\n  a:\n    image: ${X}\n  b:\n    image: busybox\n    profiles: [p1]\n"
        "    depends_on: [c]\n  c:\n    image: busybox\n    profiles: [p2]\n")
    (tmp_path / ".env").write_text("X=from-dotenv\n")
    (tmp_path / "alt.env").write_text("X=from-alt\n")
    p = load([str(tmp_path / "compose.yml")])
    assert list(p.services) == ["a"] and p.services["a"].image == "from-dotenv"
    p = load([str(tmp_path / "compose.yml")], profiles=["p1"], env_files=[str(tmp_path / "alt.env")])
    assert p.services["a"].image == "from-alt"
    assert [s.name for s in p.ordered()] == ["a", "c", "b"]  # a dependency is enabled with its dependant
    p = load([str(tmp_path / "compose.yml")])
    assert [s.name for s in p.ordered(["b"])] == ["c", "b"]  # naming a service enables it
    with pytest.raises(CLIError, match="couldn't find env file"):
        load([str(tmp_path / "compose.yml")], env_files=[str(tmp_path / "none.env")])
