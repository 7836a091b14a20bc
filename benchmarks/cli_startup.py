"""CPU time of the CLI's list/status/show commands, against `alembic current` and `git status`.

One command: ``.venv/bin/python benchmarks/cli_startup.py`` (options: --help). It builds a fresh state
folder (embedded SQLite, migrated; a Dagster instance for `status`), then runs each command ``--repeat``
times as a subprocess and keeps the best user+system CPU time of each (children's rusage, so machine load
costs wall time but barely CPU). In the same run it times two tools people compare a CLI with: `alembic
current` on an empty SQLite database (a plain Alembic project: Python + SQLAlchemy + Alembic start-up) and
`git status` in this repository. It prints one table with each command's ratio to both, and exits 1 when a
command exceeds ``--budget`` seconds (0.3 by default; `status` reads the Dagster instance and is reported
against its own ``--status-budget``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The trivial commands of the issue (each ≤ --budget CPU seconds); `--help` is the floor.
COMMANDS = [
    "--help", "mcp list", "mcp breaker list", "mcp outages", "db status", "previews list", "keys jwks",
    "keys status", "keys list-secrets", "github targets list",
]
#: Reads the Dagster instance and the definitions: measured and reported, with its own budget.
HEAVY = ["status"]


def cpu_seconds(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """User+system CPU time of one run of ``argv`` (it must exit 0: a failing command is not a figure)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best(argv: list[str], env: dict[str, str], cwd: Path, repeat: int) -> float:
    return min(cpu_seconds(argv, env, cwd) for _ in range(repeat))


def prepare(state: Path) -> tuple[dict[str, str], Path]:
    """A migrated embedded state folder and Dagster instance, and a plain Alembic project for the reference."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    env.update(CLOUDMAKE_STATE_DIR=str(state), DAGSTER_HOME=str(state / "dagster_home"), ENVIRONMENT="dev")
    (state / "dagster_home").mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "dagster.embedded.yaml", state / "dagster_home" / "dagster.yaml")
    subprocess.run([str(BIN / "cloudmake"), "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    project = state / "alembic_ref"
    project.mkdir()
    subprocess.run([str(BIN / "alembic"), "init", "-t", "generic", "migrations"], cwd=project, check=True,
                   stdout=subprocess.DEVNULL)
    ini = project / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", f"sqlite:///{project / 'ref.db'}"))
    return env, project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the best is kept (default 3)")
    parser.add_argument("--budget", type=float, default=0.3, help="CPU seconds allowed per trivial command")
    parser.add_argument("--status-budget", type=float, default=1.5, help="CPU seconds allowed for `status`")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    with tempfile.TemporaryDirectory(prefix="cm_cli_bench_") as tmp:
        env, project = prepare(Path(tmp))
        alembic = best([str(BIN / "alembic"), "-c", str(project / "alembic.ini"), "current"], env, project,
                       args.repeat)
        git = best(["git", "status", "--short"], env, ROOT, args.repeat)
        rows = [(c, best([str(BIN / "cloudmake"), *c.split()], env, ROOT, args.repeat)) for c in COMMANDS + HEAVY]
    print(f"CPU seconds, best of {args.repeat} (user+sys)")
    print(f"{'command':<32}{'cpu s':>8}{'x alembic':>11}{'x git':>8}  budget")
    print(f"{'alembic current':<32}{alembic:>8.3f}{1:>11.2f}{alembic / git:>8.1f}")
    print(f"{'git status':<32}{git:>8.3f}{git / alembic:>11.2f}{1:>8.1f}")
    over = []
    for command, seconds in rows:
        budget = args.status_budget if command in HEAVY else args.budget
        verdict = "ok" if seconds <= budget else "OVER"
        if seconds > budget:
            over.append(command)
        print(f"{'cloudmake ' + command:<32}{seconds:>8.3f}{seconds / alembic:>11.2f}{seconds / git:>8.1f}"
              f"  {verdict} (≤ {budget:g})")
    if over:
        print(f"over budget: {', '.join(over)}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
