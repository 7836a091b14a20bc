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
    proc = subprocess.Popen(["./scripts/dev"], cwd=clone, env=_shell_env(**{k: str(v) for k, v in ports.items()}),
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
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


#: The UI places the README names, as (what to click in order, text the page must then show).
UI_PATHS = [
    ("Automation", "mcp_outage_detector"),
    ("Runs", "Runs"),
]


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (scripts/test installs it with apt-get)")
def test_ui_has_the_places_the_readme_names(dev, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    _, url, _ = dev
    readme = README.read_text()
    assert "*Automation* (top bar)" in readme and "*Catalog* shows" in readme and "*Metadata* tab, *Plots* toggle" in readme
    assert "pick `demo-mcp`" in readme
    shots = Path(os.environ.get("CLOUDMAKE_SCREENSHOTS", tmp_path))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        # Automation is a top-level item of the navigation (not under Overview).
        page.goto(url)
        page.wait_for_load_state("networkidle")
        page.keyboard.press("Escape")  # a first visit may open a welcome dialog over the page
        page.screenshot(path=str(shots / "home.png"))
        for item in ("Overview", "Runs", "Catalog", "Jobs", "Automation"):  # the navigation's items the README names
            page.get_by_text(item, exact=True).first.wait_for()
        page.goto(f"{url}/automation")  # the item's link (a client-side route: no load event to wait for)
        page.screenshot(path=str(shots / "automation_loading.png"))
        page.get_by_text("mcp_outage_detector").first.wait_for()
        page.screenshot(path=str(shots / "automation.png"))
        # The asset's Checks and Metadata tabs; plots are behind the Metadata tab's Plots toggle.
        page.goto(f"{url}/assets/mcp_server_metrics")
        page.get_by_role("tab", name=re.compile("^Checks")).first.wait_for()
        page.screenshot(path=str(shots / "asset.png"))
        # Not yet checked here (issue #17, left): the Metadata tab's Plots toggle, the materialize dialog's
        # "0 partitions" and demo-mcp, and /jobs -> db_migrate -> Launchpad.
        browser.close()


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_ctrl_c_stops_scripts_dev_promptly_and_quietly(dev):
    """Last in this module: Ctrl-C (SIGINT to the foreground process group) stops every process within 20 s,
    without a traceback; nothing is left running."""
    proc, _, log = dev
    children = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 4, "scripts/dev, code server, daemon, webserver (+ demo server)"
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    took = time.monotonic() - started
    time.sleep(1)
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    output = log.read_text()
    assert took < 20, f"stopping took {took:.1f} s"
    assert left == [], f"still running: {left}"
    assert "Traceback" not in output.split("stopping (pids", 1)[-1], output[-3000:]
    assert "SupersessionWarning" not in output, "scripts/dev runs no superseded command"
