"""GitHub secrets sync (seed task 8): 1,000 secrets across 3 scopes against the local fake GitHub.

One command: ``.venv/bin/python benchmarks/github_sync.py`` (options: --help). It starts the fake GitHub
of the tests on 127.0.0.1 (real NaCl keys; it decrypts and checks every value it receives), spreads
1,000 secrets over 7 targets (Actions org/repo/environment, Codespaces org/repo, Dependabot org/repo)
and measures, with writes unspaced (``write_interval=0``; production spaces them 0.75 s apart):

* ours, first sync: every secret created;
* ours, unchanged re-sync: should send no writes, only the paginated list calls;
* ours, one value changed: exactly one write;
* peer "naive": what a plain script does every night — fetch each public key and PUT every secret —
  run twice, so its re-sync is compared with ours.

It prints requests sent, writes and wall time for each run, and the ratios between them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloudmake_pipelines.db import make_engine  # noqa: E402
from cloudmake_pipelines.db.migrate import upgrade  # noqa: E402
from cloudmake_pipelines.github.client import GitHubClient  # noqa: E402
from cloudmake_pipelines.github.secrets_api import SecretsApi  # noqa: E402
from cloudmake_pipelines.github.sync import SecretsSync  # noqa: E402
from cloudmake_pipelines.github.targets import Target, parse_spec  # noqa: E402
from cloudmake_pipelines.logs import configure  # noqa: E402
from tests.support.fake_github_secrets import DictSource, FakeGitHubSecrets  # noqa: E402

TOKEN = "ghp_" + "B3nchmarkT0ken" * 3
#: (target, include glob, how many secrets): 500 Actions, 250 Codespaces, 250 Dependabot
LAYOUT = [
    (parse_spec("actions:org:octo", visibility="selected", selected_repository_ids=(1, 2, 3),
                include=("A_ORG_*",)), "A_ORG", 300),
    (parse_spec("actions:repo:octo/api", include=("A_REPO_*",)), "A_REPO", 100),
    (parse_spec("actions:env:octo/api:production", include=("A_ENV_*",)), "A_ENV", 100),
    (parse_spec("codespaces:org:octo", visibility="private", include=("C_ORG_*",)), "C_ORG", 200),
    (parse_spec("codespaces:repo:octo/web", include=("C_REPO_*",)), "C_REPO", 50),
    (parse_spec("dependabot:org:octo", visibility="all", include=("D_ORG_*",)), "D_ORG", 200),
    (parse_spec("dependabot:repo:octo/web", include=("D_REPO_*",)), "D_REPO", 50),
]
TARGETS = [target for target, _, _ in LAYOUT]


def source_values() -> dict[str, str]:
    return {f"{prefix}_{i:04d}": f"value-{prefix}-{i}-" + "s" * 40 for _, prefix, n in LAYOUT for i in range(n)}


def naive_sync(client: GitHubClient, targets: list[Target], values: dict[str, str]) -> None:
    """The peer: no state, so every night it seals and PUTs every secret of every target."""
    api = SecretsApi(client)
    for target in targets:
        for name, value in values.items():
            if name.startswith(target.include[0].rstrip("*")):
                api.put(target, name, value)


def measure(label: str, client: GitHubClient, action) -> dict:
    requests, writes = client.requests_sent, client.writes_sent
    started = time.perf_counter()
    action()
    row = {"run": label, "requests": client.requests_sent - requests, "writes": client.writes_sent - writes,
           "seconds": time.perf_counter() - started}
    print(f"  {label:<34} {row['requests']:>6} requests {row['writes']:>6} writes {row['seconds']:>8.2f} s",
          flush=True)
    return row


def check_delivered(fake, values: dict[str, str]) -> None:
    for target, prefix, n in LAYOUT:
        for name in (f"{prefix}_{i:04d}" for i in range(n)):
            assert fake.value(target.secrets_path, name) == values[name], f"{target.key} {name} not delivered"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="where the sync state lives (default: a scratch SQLite file)")
    args = parser.parse_args()
    configure(open("/dev/null", "w"))  # the sync's Pino lines would drown the figures
    values = source_values()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        print(f"{len(values)} secrets, {len(TARGETS)} targets, 3 scopes; state in {url.split(':')[0]}")
        with FakeGitHubSecrets(TOKEN) as fake:
            base = fake.url
            client = GitHubClient(TOKEN, base, max_attempts=3)
            sync = SecretsSync(engine, SecretsApi(client), b"b" * 32, exclude=())
            print("ours:")
            first = measure("first sync", client, lambda: sync.run(TARGETS, DictSource(values)))
            check_delivered(fake, values)
            resync = measure("unchanged re-sync", client, lambda: sync.run(TARGETS, DictSource(values)))
            changed = {**values, "A_ENV_0007": "rotated-value-0007"}
            one = measure("re-sync, one value changed", client, lambda: sync.run(TARGETS, DictSource(changed)))
            check_delivered(fake, changed)
        with FakeGitHubSecrets(TOKEN) as fake:
            base = fake.url
            client = GitHubClient(TOKEN, base, max_attempts=3)
            print("peer (naive: public key + PUT every secret, every night):")
            naive_first = measure("first sync", client, lambda: naive_sync(client, TARGETS, values))
            naive_resync = measure("re-sync", client, lambda: naive_sync(client, TARGETS, values))
            check_delivered(fake, values)
    assert resync["writes"] == 0 and one["writes"] == 1, "an unchanged re-sync must not write"
    print("ratios:")
    print(f"  our re-sync / our first sync:     requests {resync['requests'] / first['requests']:.4f}, "
          f"time {resync['seconds'] / first['seconds']:.4f}")
    print(f"  naive re-sync / our re-sync:      requests {naive_resync['requests'] / resync['requests']:.1f}x, "
          f"writes {naive_resync['writes']} vs {resync['writes']}, "
          f"time {naive_resync['seconds'] / resync['seconds']:.1f}x")
    print(f"  our first sync / naive first:     time {first['seconds'] / naive_first['seconds']:.2f}x "
          f"(the price of crash-safe state, committed per chunk of writes)")
    print(f"  with production spacing (0.75 s/write): first sync >= {first['writes'] * 0.75 / 60:.1f} min, "
          f"naive re-sync >= {naive_resync['writes'] * 0.75 / 60:.1f} min, our re-sync {resync['seconds']:.2f} s")


if __name__ == "__main__":
    main()
