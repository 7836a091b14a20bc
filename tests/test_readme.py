"""The README as a newcomer uses it (issue #17): on a fresh clone, `./scripts/dev` brings the platform up, every
`cloudmake` command of the README's code blocks runs as written (in a shell where `source .venv/bin/activate`
was run, as the quick start says), the UI has the places the README names, and Ctrl-C stops it all promptly
and quietly.

A synopsis line is run in its first form: optional ``[...]`` parts dropped, the first of ``a | b`` alternatives.
What cannot run as written is listed in SKIPPED with the reason; every README command must be in one of the
two tables, so a new README command without a decision fails here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: command (as run, after the synopsis reduction) -> exit codes the README documents for it here.
EXIT_CODES = {
    "cloudmake db benchmark-admin": {2},  # "2 on SQLite (RLS needs PostgreSQL)": the quick start is SQLite
    "cloudmake db benchmark-admin --seed --users 100000 --audit-logs 1000000 --sessions 500000 --explain": {2},
    "cloudmake mcp loadtest": {1},  # docs (mcp.example.com, added just before) is unreachable here: SC-021 fails
    "cloudmake github targets add dependabot:org:octo --visibility selected --repository api "
    "--repository-id 123": {2},  # --repository needs GITHUB_TOKEN (none in a fresh shell)
    "cloudmake github sync": {2},  # no GITHUB_TOKEN
    "cloudmake github check": {2},  # no GITHUB_TOKEN
    "cloudmake drift check --target ../app --format markdown": {2},  # ../app: an example target, absent here
    "cloudmake secrets scan --log": {0, 1},  # 1: the history holds token-shaped scanner samples
    "cloudmake tokens versions add-source ../design-system": {2},  # an example clone, absent here
    "cloudmake quota consume": {2},  # no CLOUDMAKE_QUOTA_REDIS_URL in a fresh shell: exit 2 naming it
}
#: Regex on the command as written -> why it is not run here.
SKIPPED = {
    r"^\./scripts/test$": "runs this very test suite",
    r"^\.venv/bin/python benchmarks/": "a benchmark at full scale (minutes); benchmarks are run by hand",
    r"\b(NAME|SPEC|STEP)\b": "a synopsis with a placeholder to fill in; each form is covered by that command's tests",
}


def readme_commands() -> list[str]:
    """Every line of the README's ```bash blocks, without its trailing comment."""
    text = README.read_text()
    return [re.split(r"\s+#\s", line)[0].strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
            for line in block.splitlines() if line.strip()]


def as_run(command: str) -> str:
    """The first form of a synopsis line: ``[...]`` dropped, first of ``a | b`` alternatives."""
    command = re.sub(r"\s*\[[^\]]*\]", "", command)
    return command.split(" | ")[0].strip()


def skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPPED.items() if re.search(pattern, command)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh clone of this repository (its .venv linked in: setting it up again costs minutes)."""
    target = tmp_path_factory.mktemp("newcomer") / "cloudmake-pipelines"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=120)
    # scripts/setup in the clone must find the shared .venv up to date: re-installing would point its editable
    # install at the clone, which is deleted after the test.
    want = hashlib.sha256((target / "requirements.lock").read_bytes() + (target / "pyproject.toml").read_bytes())
    stamp = ROOT / ".venv" / ".cloudmake-installed"
    if not stamp.exists() or stamp.read_text().strip() != want.hexdigest():
        pytest.fail("the .venv is not set up from the committed requirements.lock and pyproject.toml: run scripts/setup")
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def _shell_env(**extra: str) -> dict[str, str]:
    """A newcomer's shell: no project variables set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CLOUDMAKE_", "DAGSTER_", "GITHUB_", "NEON_", "CLOUDFLARE_", "VIRTUAL_ENV"))
           and k not in ("DATABASE_URL", "ENVIRONMENT", "ALERT_WEBHOOK_URL", "PROMETHEUS_PUSHGATEWAY_URL")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def dev(clone):
    """`./scripts/dev` as the quick start writes it, on free ports; yields (process, UI URL, output file)."""
    ports = {"DAGSTER_PORT": _free_port(), "DAGSTER_CODE_SERVER_PORT": _free_port(),
             "CLOUDMAKE_DEMO_PORT": _free_port()}
    log = clone.parent / "dev.log"
    # Started with SIGINT ignored, as `scripts/dev &` in a script (or a CI step) starts it: the Ctrl-C test at the
    # end must still see a clean stop and exit 0 (bash cannot trap a signal ignored at its start; scripts/dev
    # restarts itself with SIGINT restored). A terminal start (SIGINT at its default) takes the same path.
    proc = subprocess.Popen(["./scripts/dev"], cwd=clone, env=_shell_env(**{k: str(v) for k, v in ports.items()}),
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    url = f"http://127.0.0.1:{ports['DAGSTER_PORT']}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                break
        except OSError:
            time.sleep(2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the UI did not answer within 600 s: " + log.read_text()[-3000:])
    yield proc, url, log
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)


def test_every_readme_command_has_a_decision():
    commands = readme_commands()
    assert "./scripts/dev" in commands and "cloudmake drift check" in commands
    undecided = [c for c in commands if not skip_reason(c) and not c.startswith(("cloudmake ", "./scripts/dev"))
                 and "| cloudmake" not in c]
    assert undecided == []
    assert set(EXIT_CODES) <= {as_run(c) for c in commands}, "EXIT_CODES names commands the README no longer has"


def test_quick_start_says_how_to_get_the_cli():
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in quick_start and ".venv/bin/cloudmake" in quick_start


@pytest.mark.e2e
@pytest.mark.timeout(1800)  # the platform's start-up plus ~35 commands (a 30 s load test among them)
def test_readme_commands_run_as_written_next_to_the_quick_start(dev, clone):
    failures = []
    for written in readme_commands():
        if written == "./scripts/dev" or skip_reason(written):
            continue
        command = as_run(written)
        done = subprocess.run(["bash", "-c", f"source .venv/bin/activate && {command}"], cwd=clone,
                              env=_shell_env(), capture_output=True, text=True, timeout=300)
        expected = EXIT_CODES.get(command, {0})
        if done.returncode not in expected or "Traceback" in done.stderr:
            failures.append(f"{command}: exit {done.returncode} (expected {sorted(expected)})\n"
                            f"{done.stdout[-600:]}{done.stderr[-1200:]}")
    assert failures == [], "\n\n".join(failures)


#: How long the first run of the quick start may take in the UI (about 30 s of load test, plus start-up).
FIRST_RUN_TIMEOUT_MS = 300_000


def walk_the_ui(page, url: str, shots: Path) -> None:
    """What the README's quick start and "Operating it" tell a newcomer to click, asserting what is visible."""
    import re as _re

    # On 127.0.0.1 the UI shows a "Join the Dagster community" dialog over whatever is open, seconds after the
    # first page (a person clicks Skip once): marked as seen, as Skip does, so it cannot close the selector menu
    # under the test's click; should it still appear, it is skipped.
    page.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                             lambda: page.get_by_role("button", name="Skip").click())
    page.goto(url)
    for item in ("Overview", "Runs", "Catalog", "Jobs", "Automation"):  # the navigation's items the README names
        page.get_by_text(item, exact=True).first.wait_for()
    page.screenshot(path=str(shots / "home.png"))
    page.goto(f"{url}/automation")  # *Automation* (top bar): schedules and sensors
    page.get_by_text("mcp_outage_detector").first.wait_for()

    # Catalog -> mcp_server_metrics -> Materialize…: the dialog opens on "0 partitions".
    page.goto(f"{url}/assets/mcp_server_metrics")
    page.get_by_role("tab", name=_re.compile("^Checks")).first.wait_for()
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize mcp_server_metrics")
    dialog.get_by_text("0 partitions").wait_for()
    # pick demo-mcp in "Select a partition", then "Launch 1 run".
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem", name=_re.compile("demo-mcp")).click()
    page.keyboard.press("Escape")  # closes the selector's menu, not the dialog
    dialog.get_by_text("1 partition", exact=True).wait_for()
    page.screenshot(path=str(shots / "materialize_dialog.png"))
    dialog.get_by_role("button", name="Launch 1 run").click()
    page.get_by_text(_re.compile("^Launched run")).first.wait_for()

    # The asset's Overview tab: once materialized, the Metadata section has Table / Plots, Partitions / Events.
    plots = page.get_by_role("button", name="Plots")
    deadline = time.monotonic() + FIRST_RUN_TIMEOUT_MS / 1000
    while not plots.count():
        assert time.monotonic() < deadline, "mcp_server_metrics was not materialized from the dialog's run"
        page.wait_for_timeout(3000)
        page.reload()
        page.get_by_role("tab", name=_re.compile("^Checks")).first.wait_for()
    assert page.get_by_role("tab", name="Overview").get_attribute("aria-selected") == "true"
    plots.click()
    page.get_by_text("tools_list.p95_ms", exact=True).wait_for()  # one chart per number
    page.get_by_role("button", name="Events").click()  # over the runs
    page.get_by_text("tools_list.p95_ms", exact=True).wait_for()
    page.screenshot(path=str(shots / "plots.png"), full_page=True)

    # The Checks tab lists the asset's checks.
    page.get_by_role("tab", name=_re.compile("^Checks")).first.click()
    page.get_by_text("sc_021_list_p95").first.wait_for()
    page.screenshot(path=str(shots / "checks.png"))

    # http://127.0.0.1:3000/jobs -> migrations_job -> Launchpad.
    page.goto(f"{url}/jobs")
    page.get_by_role("link", name="migrations_job").first.click()
    page.get_by_role("tab", name="Launchpad").click()
    page.get_by_role("button", name=_re.compile("Launch Run", _re.I)).first.wait_for()
    page.screenshot(path=str(shots / "launchpad.png"))


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (scripts/test installs it with apt-get)")
def test_ui_has_the_places_the_readme_names(dev, tmp_path):
    """Clicks through exactly what the README says: its first run (Materialize…, "0 partitions", pick demo-mcp,
    Launch 1 run), the plots of the asset's metadata, its checks, the migrations job's Launchpad."""
    playwright = pytest.importorskip("playwright.sync_api")
    _, url, _ = dev
    readme = README.read_text()
    for words in ("*Catalog → mcp_server_metrics → Materialize…*", '("0 partitions")',
                  "pick `demo-mcp` in *Select a partition*", "*Launch 1 run*", "*Checks* tab",
                  "*Overview* tab, the *Metadata* section's *Plots* button", "*Events* plots",
                  "*Automation* (top bar)", "*migrations_job* → *Launchpad*"):
        assert words in readme, f"the README no longer says {words}: update this walk with it"
    shots = Path(os.environ.get("CLOUDMAKE_SCREENSHOTS", tmp_path))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        try:
            walk_the_ui(page, url, shots)
        except Exception:
            page.screenshot(path=str(shots / "failed.png"), full_page=True)
            raise
        finally:
            browser.close()


def start_a_run(port: int) -> str:
    """A load test of demo-mcp through the webserver's GraphQL API (as the UI launches it), once it has started."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution("mcp_load_test_job", tags={"dagster/partition": "demo-mcp"})
    deadline = time.monotonic() + 180
    while (status := client.get_run_status(run_id).value) != "STARTED":
        assert status in ("QUEUED", "NOT_STARTED", "STARTING") and time.monotonic() < deadline, status
        time.sleep(1)
    time.sleep(2)  # into the load test
    return run_id


def wait_for_no_run_in_progress(home: Path, timeout: float = 180) -> None:
    """The UI walk's run may still be running its checks: the stop is measured with one run to interrupt."""
    import dagster as dg

    in_progress = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while instance.get_runs(filters=dg.RunsFilter(statuses=in_progress)):
            assert time.monotonic() < deadline, "a run of the UI walk did not finish"
            time.sleep(1)


def interrupted_run(home: Path, run_id: str) -> tuple[str, str]:
    """(status, the run's last failure message) from the instance scripts/dev ran on."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        failures = [e.message or "" for e in instance.all_logs(run_id)
                    if e.dagster_event_type == dg.DagsterEventType.RUN_FAILURE]
        return run.status.value, failures[-1] if failures else ""


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_ctrl_c_stops_scripts_dev_promptly_and_quietly(dev, clone):
    """Last in this module: Ctrl-C (SIGINT to the foreground process group) in the middle of a run stops every
    process within the 30 s grace period (none needs killing), without a traceback; nothing is left
    running, and the run shows as failed by the interruption, not as forever started."""
    proc, url, log = dev
    children = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 4, "scripts/dev, code server, daemon, webserver (+ demo server)"
    wait_for_no_run_in_progress(clone / ".cloudmake" / "dagster_home")
    run_id = start_a_run(int(url.rsplit(":", 1)[1]))
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=60)
    took = time.monotonic() - started
    time.sleep(1)
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    output = log.read_text()
    stopping = output.split("stopping (pids", 1)[-1]
    # Before the fix the code server ignored TERM and was killed at the end of the grace period (13-15 s in
    # all); with a run to interrupt it takes 6-11 s on a loaded 2-core machine, most of it the run worker reporting.
    # The grace period is 30 s: 10 s killed the code server in a CI run with the other xdist worker busy (10.3 s).
    assert took < 30, f"stopping took {took:.1f} s: something waited for the grace period\n{stopping[-3000:]}"
    assert left == [], f"still running: {left}"
    assert " Killed " not in stopping and "leaked semaphore" not in stopping, stopping[-3000:]
    assert "Traceback" not in stopping, output[-3000:]
    assert code == 0 and "a process exited" not in output, (code, stopping[-3000:])  # a stop asked for, not a crash
    assert "SupersessionWarning" not in output, "scripts/dev runs no superseded command"
    status, message = interrupted_run(clone / ".cloudmake" / "dagster_home", run_id)
    assert status == "FAILURE" and "interrupted" in message, (status, message)
