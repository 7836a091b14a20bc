"""deploy/README.md walked on this machine: "Steps on one machine" for real, the units' own commands included,
and the "Scaling past one machine" instance settings and worker command.

What needs root or a running systemd is stood in for, the same way for the unit files and the commands:

- The install is this checkout: ``/opt/cloudmake-pipelines`` becomes :data:`ROOT` (its .venv from scripts/setup).
- ``/etc/cloudmake/pipelines.env`` becomes a file built from deploy/pipelines.env.example line by line, the
  values that name the machine's places replaced (:func:`env_file`): DAGSTER_HOME holds the repository's
  dagster.yaml (``production_dagster_home``) on a fresh PostgreSQL database (``pg_url``: DAGSTER_PG_*),
  DATABASE_URL is another fresh one (``platform_pg_url``), CLOUDMAKE_STATE_DIR a temporary folder; the rest
  (ENVIRONMENT=production, CLOUDMAKE_EXECUTOR=in_process, the empty credentials) stays as the example has it.
- The units' ports (code server 4266, UI 3000) become free ports, in the unit files and in
  deploy/workspace.grpc.yaml alike (a copy), so the code server's port and the workspace's must still agree.
- systemd becomes :func:`service`: each unit's ExecStart= runs as a subprocess in its WorkingDirectory=, with
  systemd's environment (its default PATH, a HOME for the service user) plus EnvironmentFile= and
  Environment=; User= is not switched to (there is no such user here) and ``runuser -u cloudmake --`` is
  dropped from the commands. The three run at once, as ``systemctl enable --now`` starts them.
- The unit files themselves are checked with ``systemd-analyze verify`` where it exists.

Every line of the guide's bash blocks is either run (RUN) or left out with the reason (SKIPPED).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml
from dagster._core.scheduler.instigation import InstigatorType
from dotenv import dotenv_values

from cloudmake_pipelines import opsstatus
from cloudmake_pipelines.db import migrate
from cloudmake_pipelines.definitions import defs
from cloudmake_pipelines.executor import BrokerUnavailable, check_broker
from tests.support.celery_cluster import BROKER
from tests.support.processes import spawn
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "deploy" / "README.md"
UNITS = ROOT / "deploy" / "systemd"
INSTALL = "/opt/cloudmake-pipelines"
SETTINGS = "/etc/cloudmake/pipelines.env"
AS_SERVICE_USER = "runuser -u cloudmake -- "
#: The three units of "Steps on one machine", in the order systemd starts them (After=).
STEP_UNITS = ("cloudmake-code-server", "dagster-daemon", "dagster-webserver")
#: systemd's PATH for services (systemd.exec(5), "Environment variables in spawned processes").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"

#: Guide lines this module runs (a fragment identifying each), with where.
RUN = {
    "exec .venv/bin/cloudmake db upgrade'": "step 3, test_steps_on_one_machine",
    "exec .venv/bin/cloudmake status'": "step 5, test_steps_on_one_machine",
    "exec .venv/bin/dagster-daemon liveness-check'": "step 5, test_steps_on_one_machine",
    "exec .venv/bin/celery -A cloudmake_pipelines.worker inspect active'":
        "test_celery_inspect_active_exits_as_documented; with workers up, tests/test_celery_executor.py",
}
#: Regex on a guide line -> why it is not run here.
SKIPPED = {
    r"^git clone … /opt/cloudmake-pipelines && cd /opt/cloudmake-pipelines && scripts/setup$":
        "this checkout is the clone, set up by scripts/setup (these tests run in its .venv)",
    r"^useradd ": "root only; the walk runs as the test's own user",
    r"^install -d ": "root only; the walk's folders are temporary ones (DAGSTER_HOME, CLOUDMAKE_STATE_DIR)",
    r"^install -D .* deploy/pipelines.env.example /etc/cloudmake/pipelines.env$":
        "root only; the walk builds its settings file from the same example (env_file)",
    r"^install .* dagster.yaml /var/lib/cloudmake/dagster_home/dagster.yaml$":
        "root only; production_dagster_home copies the same dagster.yaml",
    r"^install -m 0600 pipelines.env /etc/cloudmake/pipelines.env$": "root only (a worker machine's settings)",
    r"^cp deploy/systemd/.* /etc/systemd/system/": "root only; the unit files are checked by systemd-analyze verify",
    r"^systemctl ": "no systemd running here; the units' ExecStart= lines are started as subprocesses instead "
                    "(a worker unit's command by tests/test_celery_executor.py)",
}


def guide_lines() -> list[str]:
    """Every line of the guide's ```bash blocks, without comment lines and trailing comments."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), re.S)
    lines = [re.split(r"\s+#\s", line)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def guide_line(fragment: str) -> str:
    (line,) = [line for line in guide_lines() if fragment in line]
    return line


def as_here(line: str, settings: Path, **replace: str) -> str:
    """A guide line as this machine runs it: as the test's user, this checkout, the walk's settings file."""
    assert line.startswith(AS_SERVICE_USER) and SETTINGS in line, line
    line = line.removeprefix(AS_SERVICE_USER).replace(SETTINGS, str(settings)).replace(INSTALL, str(ROOT))
    for old, new in replace.items():
        assert line.count(old) == 1, (old, line)
        line = line.replace(old, new)
    return line


def shell_env(home: Path) -> dict[str, str]:
    """What a service (and here the service user's shell) starts with: no project settings at all."""
    home.mkdir(exist_ok=True)
    return {"PATH": SYSTEMD_PATH, "HOME": str(home), "LANG": "C.UTF-8"}


def run_line(line: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def env_file(path: Path, values: dict[str, str]) -> Path:
    """deploy/pipelines.env.example with ``values``: a variable's line takes the new value; a commented-out
    ``#NAME=`` line (an alternative, e.g. the Celery settings) is switched on only when no line sets NAME."""
    lines = (ROOT / "deploy" / "pipelines.env.example").read_text().splitlines()
    active = {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_0-9]+=", line)}
    unused = set(values)
    for i, line in enumerate(lines):
        match = re.match(r"^(#?)([A-Z_0-9]+)=", line)
        if match and match[2] in values and (not match[1] or match[2] not in active):
            lines[i] = f"{match[2]}={values[match[2]]}"
            unused.discard(match[2])
    assert not unused, f"deploy/pipelines.env.example no longer has {sorted(unused)}"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def unit_settings(text: str) -> dict[str, list[str]]:
    """The [Service] section of a unit file: each key's values in order (Environment= may repeat)."""
    section, found = "", {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def service(unit_text: str, base_env: dict[str, str]) -> tuple[list[str], Path, dict[str, str]]:
    """(argv, working directory, environment) of a unit's service as systemd starts it."""
    settings = unit_settings(unit_text)
    env = dict(base_env)
    for path in settings.get("EnvironmentFile", []):
        env.update({k: v or "" for k, v in dotenv_values(path.removeprefix("-"), interpolate=False).items()})
    for value in settings.get("Environment", []):
        env.update(item.split("=", 1) for item in shlex.split(value))
    (start,) = settings["ExecStart"]
    (cwd,) = settings["WorkingDirectory"]
    return shlex.split(start), Path(cwd), env


def rewritten_units(tmp: Path, settings: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Every unit file (and deploy/workspace.grpc.yaml, copied to ``tmp``) as installed on this machine: this
    checkout, the walk's settings file, the port of each serving unit replaced by a free one everywhere it
    appears. Returns the units' texts and the serving units' ports here, by unit name."""
    units = {path.name.removesuffix(".service"): path.read_text() for path in UNITS.glob("*.service")}
    workspace = (ROOT / "deploy" / "workspace.grpc.yaml").read_text()
    ports = {}
    for name in ("cloudmake-code-server", "dagster-webserver"):
        (theirs,) = re.findall(r" -p (\d+) ", unit_settings(units[name])["ExecStart"][0])
        ports[name] = here = free_port()
        workspace = re.sub(rf"\bport: {theirs}\b", f"port: {here}", workspace)
        units = {unit: text.replace(f" -p {theirs} ", f" -p {here} ") for unit, text in units.items()}
    (tmp / "workspace.grpc.yaml").write_text(workspace)
    units = {name: text.replace(f"{INSTALL}/deploy/workspace.grpc.yaml", str(tmp / "workspace.grpc.yaml"))
             .replace(INSTALL, str(ROOT)).replace(SETTINGS, str(settings)) for name, text in units.items()}
    return units, ports


def test_every_guide_command_has_a_decision():
    lines = guide_lines()
    assert any("cloudmake db upgrade" in line for line in lines) and any("systemctl" in line for line in lines)
    for fragment in RUN:
        guide_line(fragment)  # exactly one line each
    undecided = [line for line in lines if not any(f in line for f in RUN)
                 and not any(re.search(pattern, line) for pattern in SKIPPED)]
    assert undecided == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="no systemd-analyze on this machine (Debian's systemd package has it)")
def test_unit_files_verify(tmp_path):
    """`systemd-analyze verify` (no systemd needs to run) on the unit files as installed here: it rejects what
    systemd would (an unknown key or value is only a warning there: any output fails), and a command path
    that is not executable. The worker unit is a template: verified as one instance."""
    settings = env_file(tmp_path / "pipelines.env", {})
    units, _ = rewritten_units(tmp_path, settings)
    for name, text in units.items():
        (tmp_path / f"{name.replace('@', '@load1')}.service").write_text(text)
        if "@" in name:
            (tmp_path / f"{name}.service").write_text(text)
    verified = sorted(p.name for p in tmp_path.glob("*.service") if not p.name.endswith("@.service"))
    assert len(verified) == 4, verified
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *verified], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def logs_of(tmp: Path) -> str:
    return "\n".join(f"--- {unit}.log\n" + (tmp / f"{unit}.log").read_text()[-2500:] for unit in STEP_UNITS)


def loaded_location(base: str, code_port: int) -> dict | None:
    """The UI's one code location, once loaded (None while the UI or the code server does not answer yet);
    it must be the code server's, and any load error other than not reaching it yet fails at once."""
    query = """{ workspaceOrError { ... on Workspace { locationEntries {
        name displayMetadata { key value }
        locationOrLoadError { __typename ... on PythonError { message }
            ... on RepositoryLocation { repositories { jobs { name } schedules { name } sensors { name } } } } } } } }"""
    try:
        if httpx.get(f"{base}/server_info", timeout=5).status_code != 200:
            return None
        body = httpx.post(f"{base}/graphql", json={"query": query}, timeout=60).json()
    except httpx.TransportError:
        return None
    assert "errors" not in body, body
    (entry,) = body["data"]["workspaceOrError"]["locationEntries"]
    where = {m["key"]: m["value"] for m in entry["displayMetadata"]}
    assert (entry["name"], where) == ("cloudmake_pipelines", {"host": "127.0.0.1", "port": str(code_port)}), (
        "the UI's location is not the code server's", entry)
    location = entry["locationOrLoadError"] or {}
    if location.get("__typename") == "RepositoryLocation":
        return location
    assert "Could not reach user code server" in location.get("message", "Could not reach user code server"), (
        location["message"])
    return None


def sensor_ticked(home: Path) -> bool:
    """Whether the daemon has evaluated a sensor (through the code server): its tick is in the instance."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return any(instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
                   for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR))


def wait_for(what: str, ready, procs: dict[str, subprocess.Popen], tmp: Path, timeout: float, every: float = 1.0):
    """``ready()``'s first truthy value, polled while every unit runs; fails with their logs otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        exited = {unit: p.returncode for unit, p in procs.items() if p.poll() is not None}
        assert not exited, f"exited: {exited}\n{logs_of(tmp)}"
        try:
            if value := ready():
                return value
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}\n{logs_of(tmp)}") from None
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s\n{logs_of(tmp)}"
        time.sleep(every)


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_steps_on_one_machine(production_dagster_home, platform_pg_url, tmp_path):
    pg = {name: os.environ[name] for name in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST",
                                              "DAGSTER_PG_DB")}  # production_dagster_home's fresh database
    settings = env_file(tmp_path / "pipelines.env", {
        "DAGSTER_HOME": str(production_dagster_home), "CLOUDMAKE_STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": platform_pg_url, **pg})
    env = shell_env(tmp_path / "home")
    assert not migrate.status(platform_pg_url).current

    # 3. Migrate the platform database.
    done = run_line(as_here(guide_line("cloudmake db upgrade"), settings), env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert migrate.status(platform_pg_url).up_to_date

    # 4. Start the units, all at once as systemctl does (After= orders the starts, it waits for no port).
    units, ports = rewritten_units(tmp_path, settings)
    with contextlib.ExitStack() as stack:
        procs = {}
        for unit in STEP_UNITS:
            args, cwd, unit_env = service(units[unit], env)
            assert (unit_env.get("ENVIRONMENT"), unit_env.get("DATABASE_URL")) == ("production", platform_pg_url), (
                f"{unit} does not read the settings file")
            procs[unit] = stack.enter_context(spawn(args, unit_env, tmp_path / f"{unit}.log", cwd=cwd))
        # The UI answers and has the code location, from the code server.
        base = f"http://127.0.0.1:{ports['dagster-webserver']}"
        location = wait_for("the UI's code location", lambda: loaded_location(base, ports["cloudmake-code-server"]),
                            procs, tmp_path, timeout=150)
        expected = defs.get_repository_def()
        (repo,) = location["repositories"]
        assert {j["name"] for j in repo["jobs"]} >= {j.name for j in expected.get_all_jobs()}
        assert {s["name"] for s in repo["schedules"]} == {s.name for s in expected.schedule_defs}
        assert {s["name"] for s in repo["sensors"]} == {s.name for s in expected.sensor_defs}
        # The daemon has it too: it evaluates the sensors.
        wait_for("a sensor tick by the daemon", lambda: sensor_ticked(production_dagster_home), procs, tmp_path,
                 timeout=90)

        # 5. Check: every task (those opsstatus derives, as the UI's), and the daemon's heartbeats.
        done = run_line(as_here(guide_line("cloudmake status"), settings), env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        assert "CloudMake Ops (production)" in done.stdout
        with dg.DagsterInstance.from_config(str(production_dagster_home)) as instance:
            tasks = [task.name for task in opsstatus.collect(defs, instance)]
        assert len(tasks) > 10 and [task for task in tasks if task not in done.stdout] == [], done.stdout
        liveness = as_here(guide_line("dagster-daemon liveness-check"), settings)

        def live() -> bool:
            done = run_line(liveness, env)
            assert done.stdout.strip() in ("Daemon live", "Daemon(s) not running"), done.stdout + done.stderr[-3000:]
            return done.returncode == 0 and done.stdout.strip() == "Daemon live"

        wait_for("dagster-daemon liveness-check", live, procs, tmp_path, timeout=90, every=2)
    for unit in STEP_UNITS:
        assert "Traceback" not in (tmp_path / f"{unit}.log").read_text(), logs_of(tmp_path)


@pytest.mark.postgres
def test_scaling_run_coordinator_is_valid_instance_config(production_dagster_home):
    """The guide's instance settings for two 4-core load workers, with "the other tasks' limits as in
    dagster.yaml" as its comment says, in place of dagster.yaml's run_coordinator: an instance loads them."""
    (block,) = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), re.S)
    assert "# ... the other tasks' limits as in dagster.yaml" in block
    scaled = yaml.safe_load(block)["run_coordinator"]
    path = production_dagster_home / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    ours = scaled["config"]["tag_concurrency_limits"]
    others = [limit for limit in config["run_coordinator"]["config"]["tag_concurrency_limits"]
              if (limit["key"], limit["value"]) not in {(o["key"], o["value"]) for o in ours}]
    scaled["config"]["tag_concurrency_limits"] = ours + others
    config["run_coordinator"] = scaled
    path.write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(production_dagster_home)) as instance:
        queue = instance.run_coordinator.get_run_queue_config()
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert queue.max_concurrent_runs == 16
    limits = {limit["value"]: limit["limit"] for limit in queue.tag_concurrency_limits}
    assert limits["mcp_load_test"] == 8 and len(limits) == len(others) + 1 and limits["migrations"] == 1


def test_celery_inspect_active_exits_as_documented(tmp_path):
    """The worker section's `inspect active` on a machine with the settings file (CLOUDMAKE_EXECUTOR=celery, the
    local RabbitMQ as guest), no worker answering: "No nodes replied", exit 69. The workers of other tests
    share RabbitMQ's one vhost (guest's only; a test cannot create one), so the command asks a worker name no
    one has (-d): the same app load, broadcast and wait for replies. Without the settings: exit 2, naming
    the missing variable."""
    try:
        check_broker(BROKER)
    except BrokerUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}; CI=true requires RabbitMQ")
        pytest.skip(str(exc))
    settings = env_file(tmp_path / "pipelines.env", {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"), "CLOUDMAKE_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_PG_HOST": "127.0.0.1", "DATABASE_URL": f"sqlite:///{tmp_path / 'cloudmake.db'}",
        "CLOUDMAKE_EXECUTOR": "celery", "CLOUDMAKE_CELERY_BROKER_URL": BROKER,
        "CLOUDMAKE_CELERY_QUEUE": f"cm-test-{uuid.uuid4().hex[:8]}"})
    assert "CLOUDMAKE_EXECUTOR=celery" in settings.read_text().splitlines()
    line = guide_line("inspect active")
    env = shell_env(tmp_path / "home")
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@127.0.0.1"
    done = run_line(as_here(line, settings, **{"inspect active'": f"inspect active -d {nobody}'"}), env)
    assert (done.returncode, done.stderr.strip().splitlines()[-1:]) == (
        69, ["Error: No nodes replied within time constraint"]), done.stdout + done.stderr[-3000:]
    assert "guest" not in done.stdout + done.stderr
    without = shlex.split(line)[-1].split(" && exec ", 1)[1]  # the command alone, in a shell with no settings
    done = run_line(without, env)
    assert (done.returncode, done.stderr.strip()) == (2, (
        "error: CLOUDMAKE_CELERY_BROKER_URL is not set: expected an amqp:// or redis:// broker URL "
        "(CLOUDMAKE_EXECUTOR=celery sends steps through it)")), done.stderr[-2000:]  # one line, no traceback
