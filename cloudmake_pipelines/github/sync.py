"""Seed task 8: sync secrets from the database to GitHub Actions, Codespaces and Dependabot.

For each target: select the source secrets it gets (:mod:`.rules`), list what GitHub has (names and
``updated_at`` only), compare with the local state (:mod:`.state`) and decide per secret:

* ``create`` — not on GitHub; ``update`` — our value, visibility or repository selection changed, or an
  interrupted write is being recovered; ``unchanged`` — same HMAC and untouched on GitHub: no request.
* ``conflict`` — changed on GitHub by someone else: its ``updated_at`` is neither the baseline we settled
  nor inside the attempt window of our own last write (:meth:`.state.SecretState.judge`), whenever that
  edit happened (during this sync, after a killed run...); or present there but never written by us:
  reported, overwritten only with ``force``.
* ``orphan`` — we created it and it left the source: deleted only when the target allows deletion;
  secrets we did not create are never deleted.
* ``deferred`` — the quota (5,000 writes/hour, shared by every run through :mod:`cloudmake_pipelines.quota`)
  or a GitHub rate limit stopped it; the next run picks it up, as its state was not advanced.

Writes are serial (spaced by the client). Each one's marker and attempt window (GitHub's ``Date``
before it was sent) is committed before it is sent, its reply's ``Date`` after; a 5xx after retries
keeps the window, since the write may have landed with its reply lost. After a target's writes one list
call settles them: ``updated_at`` inside a write's window is ours and becomes the baseline; outside it,
someone edited the secret meanwhile, and it is a conflict now and in every later run until forced.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from ..db.types import utcnow
from ..keys import audit
from ..logs import get_logger, redactor
from ..quota import Limit, QuotaService
from .client import GitHubError, RateLimited
from .rules import DEFAULT_EXCLUDE, Rejection, select_secrets
from .secrets_api import RemoteSecret, SecretsApi
from .state import FOREIGN, OURS, SecretState, SyncStateStore, digest
from .targets import Target

log = get_logger("github_sync")
QUOTA_BUCKET = "github_secret_writes"
WRITE_QUOTA = Limit(5000, 3600)
WRITE_ACTIONS = ("create", "update", "delete")
DONE = {"create": "created", "update": "updated", "delete": "deleted"}
#: Outcomes that mean GitHub's side is not what the source says (SC-005).
OUT_OF_SYNC = {"create", "update", "delete", "conflict", "deferred", "failed"}


def _is_rate_limit(exc: GitHubError) -> bool:
    """A limit GitHub still enforced after the client's bounded waits (not a permission error)."""
    return isinstance(exc, RateLimited) or (exc.status in (403, 429) and "rate limit" in str(exc).lower())


class SecretSource(Protocol):
    """Where the values come from: the keyring, or anything yielding ``(name, value)`` pairs."""

    def items(self) -> Iterable[tuple[str, str]]: ...


@dataclass(frozen=True)
class Outcome:
    target: str
    name: str
    action: str  # planned: create/update/delete; done: created/updated/deleted; or unchanged, conflict,
    #             orphan, deferred, failed, rejected, excluded
    reason: str = ""


@dataclass
class SyncReport:
    dry_run: bool
    targets: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    duration_ms: float = 0.0
    requests_sent: int = 0
    writes_sent: int = 0

    def counts(self) -> dict[str, int]:
        c = Counter(o.action for o in self.outcomes)
        return {"synced": c["created"] + c["updated"] + c["deleted"], "created": c["created"],
                "updated": c["updated"], "deleted": c["deleted"], "skipped": c["unchanged"],
                "conflict": c["conflict"], "orphan": c["orphan"], "deferred": c["deferred"],
                "failed": c["failed"], "rejected": c["rejected"], "excluded": c["excluded"],
                "planned": c["create"] + c["update"] + c["delete"]}

    def of(self, *actions: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.action in actions]

    @property
    def result(self) -> str:
        """One word for cron and ``--json``: ``failed`` (a conflict or a failure), ``deferred`` (the sync
        stalled on GitHub's rate limit or the write quota: the rest waits for the next run), or ``ok``."""
        if self.of("conflict", "failed"):
            return "failed"
        return "deferred" if self.of("deferred") else "ok"

    @property
    def out_of_sync(self) -> list[Outcome]:
        """SC-005's findings: what a dry run would still write, conflicts, deferrals and failures."""
        return self.of(*OUT_OF_SYNC)

    def to_dict(self) -> dict:
        return {"dry_run": self.dry_run, "result": self.result, "targets": self.targets, "counts": self.counts(),
                "duration_ms": self.duration_ms,
                "requests_sent": self.requests_sent, "writes_sent": self.writes_sent,
                "outcomes": [o.__dict__ for o in self.outcomes if o.action != "unchanged"]}


@dataclass(frozen=True)
class _Write:
    action: str  # create | update | delete
    name: str
    value: str | None = None
    digest: str | None = None
    reason: str = ""


#: progress(target_key, writes_done, writes_total)
Progress = Callable[[str, int, int], None]


class SecretsSync:
    def __init__(self, engine: Engine, api: SecretsApi, hmac_key: bytes, *,
                 exclude: tuple[str, ...] = DEFAULT_EXCLUDE, quota: QuotaService | None = None,
                 write_quota: Limit = WRITE_QUOTA, clock: Callable[[], datetime] = utcnow,
                 environment: str = "dev", actor: str = "cloudmake"):
        if len(hmac_key) < 32:
            raise ValueError("the sync-state HMAC key must be at least 32 bytes")
        self.engine = engine
        self.api = api
        self.hmac_key = hmac_key
        self.exclude = tuple(exclude)
        self.quota = quota or QuotaService(engine, clock)
        self.write_quota = write_quota
        self.clock = clock
        self.state = SyncStateStore(engine, clock)
        self.environment = environment
        self.actor = actor
        self._rate_limited: str | None = None

    # -- public -----------------------------------------------------------------------------------------
    def run(self, targets: list[Target], source: SecretSource, *, dry_run: bool = False, force: bool = False,
            progress: Progress | None = None) -> SyncReport:
        """Sync every target (or compute the plan, with ``dry_run``); one target failing does not stop others."""
        started = time.perf_counter()
        client = self.api.client
        requests_before, writes_before = client.requests_sent, client.writes_sent
        items = dict(source.items())
        redactor.add(*items.values())
        report = SyncReport(dry_run, len(targets))
        self._rate_limited = None
        self.api.forget_keys()  # public keys are cached per run: GitHub may rotate them between runs
        for target in targets:
            try:
                self._sync_target(target, items, report, dry_run, force, progress)
            except GitHubError as exc:
                action = "deferred" if _is_rate_limit(exc) else "failed"
                log.error(f"GitHub target {action}", extra={"target": target.key, "error": str(exc)})
                report.outcomes.append(Outcome(target.key, "*", action, str(exc)))
        report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        report.requests_sent = client.requests_sent - requests_before
        report.writes_sent = client.writes_sent - writes_before
        for o in report.of("rejected"):
            log.warning(f"{o.target}: secret {o.name!r} rejected: {o.reason}")
        log.info("github secrets sync finished", extra={
            "dry_run": dry_run, "counts": report.counts(), "duration_ms": report.duration_ms,
            "requests_sent": report.requests_sent, "targets": len(targets)})
        if not dry_run:
            self._audit(report, len(targets))
        return report

    # -- one target -------------------------------------------------------------------------------------
    def _sync_target(self, target: Target, items: dict[str, str], report: SyncReport, dry_run: bool,
                     force: bool, progress: Progress | None) -> None:
        selection = select_secrets(items, target.include, self.exclude + target.exclude)
        report.outcomes += [Outcome(target.key, n, "excluded", "matches an exclusion pattern")
                            for n in selection.excluded]
        remote = self.api.list(target)
        state = self.state.load(target.key)
        accepted = self._within_count_limit(target, selection.accepted, remote, selection.rejected)
        report.outcomes += [Outcome(target.key, r.name, "rejected", r.reason) for r in selection.rejected]
        writes, settled = [], {}
        for name, value in accepted.items():
            s, r = state.get(name), remote.get(name)
            if s is not None and r is not None and s.attempt_sent_at is not None and s.judge(r.updated_at) == OURS:
                settled[name] = (r.updated_at, s.attempted_digest)  # an earlier run's write landed
            outcome, write = self._decide(target, name, value, r, s, force)
            if write:
                writes.append(write)
            else:
                report.outcomes.append(outcome)
        gone = []
        for name, s in state.items():
            if name in accepted:
                continue
            if name not in remote or not s.created_by_us:
                gone.append(name)  # deleted on GitHub, or never ours to delete: stop tracking
            elif target.delete_orphans:
                writes.append(_Write("delete", name, reason="created by this sync, no longer in the source"))
            else:
                report.outcomes.append(Outcome(target.key, name, "orphan",
                                               "created by this sync, no longer in the source; deletion is off"))
        if dry_run:
            available = 0 if self._rate_limited else self.quota.available(QUOTA_BUCKET, self.write_quota)
            report.outcomes += [Outcome(target.key, w.name, w.action, w.reason) for w in writes[:available]]
            report.outcomes += [self._deferred(target, w, "write quota used up") for w in writes[available:]]
            return
        self.state.settle(target.key, settled)
        self.state.forget(target.key, gone)
        self._execute(target, writes, report, progress)

    def _within_count_limit(self, target: Target, accepted: dict[str, str], remote: dict[str, RemoteSecret],
                            rejected: list[Rejection]) -> dict[str, str]:
        """Drop new secrets that would take the target past GitHub's per-target limit."""
        new = [n for n in accepted if n not in remote]
        over = set(new[max(target.max_secrets - len(remote), 0):])
        rejected += [Rejection(name, f"{target.key} would exceed GitHub's limit of {target.max_secrets} secrets "
                                     f"(it holds {len(remote)})") for name in new if name in over]
        return {name: value for name, value in accepted.items() if name not in over}

    def _decide(self, target: Target, name: str, value: str, r: RemoteSecret | None, s: SecretState | None,
                force: bool) -> tuple[Outcome | None, _Write | None]:
        d = digest(self.hmac_key, target, value)
        if r is None:
            return None, _Write("create", name, value, d, "not on GitHub")
        if s is None or (s.digest is None and s.pending_digest is None):
            if force:
                return None, _Write("update", name, value, d, "not written by this sync; taken over (--force)")
            return Outcome(target.key, name, "conflict",
                           "exists on GitHub but was not written by this sync; --force takes it over"), None
        verdict = s.judge(r.updated_at)
        if verdict == FOREIGN:
            if not force:
                return Outcome(target.key, name, "conflict", _foreign(r, s) + "; --force overwrites it"), None
            return None, _Write("update", name, value, d, "overwriting a change made on GitHub (--force)")
        if s.pending_digest:  # never confirmed: landed or not, it is rewritten, never called a conflict
            return None, _Write("update", name, value, d, "recovering an interrupted write")
        if s.digest != d:
            return None, _Write("update", name, value, d, "value, visibility or repository selection changed")
        if target.level == "organization" and r.visibility and r.visibility != target.visibility:
            return None, _Write("update", name, value, d, f"visibility is {r.visibility} on GitHub")
        return Outcome(target.key, name, "unchanged"), None

    def _deferred(self, target: Target, write: _Write, why: str) -> Outcome:
        return Outcome(target.key, write.name, "deferred", f"{why}; deferred to the next run ({write.action})")

    def _execute(self, target: Target, writes: list[_Write], report: SyncReport,
                 progress: Progress | None) -> None:
        if self._rate_limited:
            report.outcomes += [self._deferred(target, w, self._rate_limited) for w in writes]
            return
        grant = self.quota.take(QUOTA_BUCKET, self.write_quota, len(writes))
        allowed = writes[:grant.granted]
        report.outcomes += [self._deferred(target, w, f"write quota of {self.write_quota.capacity} per "
                                           f"{self.write_quota.period_seconds:.0f}s used up")
                            for w in writes[grant.granted:]]
        if grant.denied:
            log.warning("write quota used up: writes deferred", extra={"target": target.key, "deferred": grant.denied})
        attempted: list[str] = []
        for index, write in enumerate(allowed):
            stopped = self._send(target, write, report, attempted)
            if stopped:
                action, why = stopped
                rest = allowed[index + (action == "failed"):]
                report.outcomes += [self._deferred(target, w, why) if action == "deferred"
                                    else Outcome(target.key, w.name, action, why) for w in rest]
                self.quota.refund(QUOTA_BUCKET, self.write_quota, len(rest))
                break
            if progress:
                progress(target.key, index + 1, len(allowed))
        if attempted:
            self._settle_after_writes(target, attempted, report)

    def _send(self, target: Target, write: _Write, report: SyncReport,
              attempted: list[str]) -> tuple[str, str] | None:
        """Send one write, its window recorded around it; on a rate limit or an outage, (action, why)."""
        if write.action != "delete":
            sent_at = self.api.client.server_date or self.clock()  # GitHub's time before this write left
            self.state.begin_attempt(target.key, write.name, write.digest, write.action == "create", sent_at)
        try:
            if write.action == "delete":
                self.api.delete(target, write.name)
            else:
                created = self.api.put(target, write.name, write.value)
        except GitHubError as exc:
            if _is_rate_limit(exc):  # refused, so not applied
                self.state.clear_pending(target.key, write.name)
                wait = getattr(exc, "wait_seconds", None)
                self._rate_limited = "GitHub rate limit" + (f" (retry after {wait:.0f}s)" if wait else "")
                return "deferred", self._rate_limited
            report.outcomes.append(Outcome(target.key, write.name, "failed", str(exc)))
            log.error("GitHub write failed", extra={"target": target.key, "secret": write.name,
                                                    "status": exc.status, "error": str(exc)})
            unavailable = exc.status >= 500 or exc.status == 0
            if write.action != "delete":
                if unavailable:  # it may have landed, the reply lost: keep the window for a listing to settle
                    replied = self.api.client.server_date if exc.status else None
                    self.state.end_attempt(target.key, write.name, replied, confirmed=False)
                    attempted.append(write.name)
                else:  # GitHub answered that it did not apply it
                    self.state.clear_pending(target.key, write.name)
            return ("failed", "not attempted: GitHub unavailable") if unavailable else None
        if write.action == "delete":
            self.state.forget(target.key, [write.name])
        else:
            self.state.end_attempt(target.key, write.name, self.api.client.server_date, confirmed=True,
                                   created=created)
            attempted.append(write.name)
        report.outcomes.append(Outcome(target.key, write.name, DONE[write.action], write.reason))
        return None

    def _settle_after_writes(self, target: Target, attempted: list[str], report: SyncReport) -> None:
        """List once after the writes: each ``updated_at`` inside its write's window is ours and becomes the
        baseline; outside, someone edited the secret since we wrote it: a conflict, now and next run."""
        remote = self.api.list(target)
        self.state.close_windows(target.key, attempted, self.api.client.server_date)
        state = self.state.load(target.key)
        settled = {}
        for name in attempted:
            s, r = state.get(name), remote.get(name)
            if s is None:
                continue
            if r is None:
                self.state.clear_pending(target.key, name)  # not there: a failed create that did not land
            elif s.judge(r.updated_at) == OURS:
                settled[name] = (r.updated_at, s.attempted_digest)
            elif s.pending_digest is None or s.judge(r.updated_at) == FOREIGN:
                conflict = Outcome(target.key, name, "conflict", _foreign(r, s) + " (during this sync); "
                                   "--force overwrites it")
                report.outcomes = [o for o in report.outcomes if not (o.target == target.key and o.name == name)]
                report.outcomes.append(conflict)
                log.warning("GitHub secret changed during the sync", extra={"target": target.key, "secret": name})
        self.state.settle(target.key, settled)

    def _audit(self, report: SyncReport, targets: int) -> None:
        with self.engine.begin() as conn:  # through the one writer of audit rows
            audit.record(conn, "github_secrets_sync", actor=self.actor, environment=self.environment,
                         at=self.clock(), targets=targets, **report.counts(), duration_ms=report.duration_ms)


def _foreign(r: RemoteSecret, s: SecretState) -> str:
    """Why ``r`` is someone else's edit: when it happened, and our own last write's window or baseline."""
    if s.attempt_sent_at is not None:
        ours = f"our write was sent at {s.attempt_sent_at.isoformat()}" + (
            f" and answered at {s.attempt_replied_at.isoformat()}" if s.attempt_replied_at else "")
    else:
        ours = f"our last write is dated {(s.remote_updated_at or s.written_at).isoformat()}"
    return f"changed on GitHub at {r.updated_at.isoformat()} by someone else ({ours})"
