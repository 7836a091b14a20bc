"""One tick of token propagation monitoring, and the propagation table the asset, check and CLI share.

A tick: record new versions from every source, poll every app (conditional requests), then for each
(version, app) row still open record when the app first served that version, and alert once per row when
it is overdue (resolved once when it arrives or is superseded).

*Propagation* = first seen − committed. The app changed somewhere between its previous good poll (when it
still served something else) and the first poll that saw the version: that interval is the *uncertainty*,
reported beside the figure (the true time lies in [previous poll − committed, first seen − committed]).
An app whose last poll failed is *unknown*, never "not yet": a down app has not told us anything.

Which rows exist: every version committed after an app was registered, and the latest version at
registration, so a new app is checked against what is current without inheriting years of history (for
that version the clock starts at the registration: we were not watching before). A
version followed by a newer commit before an app served it is *superseded* for that app: reported as
such, its alert resolved, and only the newest version can be overdue.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from ..alerts import Alert, Alerter
from ..db.tables import token_apps, token_propagation, token_versions
from ..db.types import utcnow
from ..logs import get_logger
from .apps import App, AppRegistry
from .poller import Cursor, Observation, Poller, Seen
from .versions import TokenSourceError, TokenVersion, VersionStore

TASK = "tokens"
#: A removed app keeps its history but is no longer alerted on or checked.
_registered = token_propagation.c.app_name.in_(select(token_apps.c.name))
log = get_logger(TASK)
FAILING = ("late", "overdue", "unknown")


@dataclass(frozen=True)
class Row:
    """One (version, app) line of the propagation table, with its status as of ``now``."""

    app: str
    version: str
    sha: str
    committed_at: datetime
    first_seen_at: datetime | None
    previous_poll_at: datetime | None
    last_served: str | None
    last_error: str | None
    superseded_by: str | None
    status: str  # ok | late | pending | overdue | unknown | superseded

    @property
    def propagation_s(self) -> float | None:
        return None if self.first_seen_at is None else (self.first_seen_at - self.committed_at).total_seconds()

    @property
    def uncertainty_s(self) -> float | None:
        """How much earlier than first seen the app may have switched (None: seen at its first poll)."""
        if self.first_seen_at is None or self.previous_poll_at is None:
            return None
        return (self.first_seen_at - max(self.previous_poll_at, self.committed_at)).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "version": self.version, "sha": self.sha, "committed_at": self.committed_at,
                "first_seen_at": self.first_seen_at, "previous_poll_at": self.previous_poll_at,
                "propagation_s": self.propagation_s, "uncertainty_s": self.uncertainty_s, "status": self.status,
                "last_served": self.last_served, "last_error": self.last_error, "superseded_by": self.superseded_by}


@dataclass
class TickResult:
    cursor: Cursor
    new_versions: list[TokenVersion] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    requests: int = 0

    @property
    def summary(self) -> str:
        down = sum(1 for o in self.observations if o.version is None)
        cached = sum(1 for o in self.observations if o.not_modified)
        return (f"{len(self.new_versions)} new version(s); {len(self.observations)} app(s) polled "
                f"({cached} not modified, {down} unknown); {len(self.alerts)} alert(s)"
                + (f"; {len(self.problems)} problem(s): {self.problems[0]}" if self.problems else ""))


def status_of(row: Any, now: datetime, slo: timedelta) -> str:
    if row.first_seen_at is not None:
        return "ok" if row.first_seen_at - row.committed_at <= slo else "late"
    if row.superseded_by is not None:
        return "superseded"
    if row.reachable is False:
        return "unknown"
    return "pending" if now - row.committed_at < slo else "overdue"


class Monitor:
    """Token propagation over one database. ``clock`` is the tick's time (tests and benchmarks inject one)."""

    def __init__(self, engine: Engine, poller: Poller, alerter: Alerter, *, slo_seconds: float = 300.0,
                 environment: str = "dev", clock: Callable[[], datetime] = utcnow,
                 versions: VersionStore | None = None):
        self.engine, self.poller, self.alerter = engine, poller, alerter
        self.slo = timedelta(seconds=slo_seconds)
        self.environment, self.clock = environment, clock
        self.versions = versions or VersionStore(engine, clock=clock)
        self.apps = AppRegistry(engine, clock=clock)

    # -- the tick -------------------------------------------------------------------------------------------
    def tick(self, cursor: Cursor) -> TickResult:
        result = TickResult(cursor=Cursor(dict(cursor.apps)))
        result.new_versions = self.versions.scan(on_error=lambda exc: self._problem(result, exc))
        apps = self.apps.list()
        self._open_rows(apps, result.new_versions)
        before = self.poller.requests
        result.observations = self.poller.poll_all(apps, cursor)
        result.requests = self.poller.requests - before
        with self.engine.begin() as conn:  # one transaction per tick, not one per app
            for observation in result.observations:
                self._record(conn, observation, cursor.apps.get(observation.app))
                if observation.version is not None:
                    result.cursor.apps[observation.app] = Seen(observation.etag, observation.version,
                                                               (observation.sent or observation.at).timestamp())
        registered = {app.name for app in apps}
        result.cursor.apps = {n: s for n, s in result.cursor.apps.items() if n in registered}
        result.alerts = self._alert(self.clock())
        return result

    @staticmethod
    def _problem(result: TickResult, exc: TokenSourceError) -> None:
        log.warning(str(exc))
        result.problems.append(str(exc))

    def _open_rows(self, apps: list[App], new: list[TokenVersion]) -> None:
        """Rows for new versions (apps registered before the commit) and the latest version for new apps;
        older unseen rows of those apps become superseded."""
        with self.engine.begin() as conn:
            latest = conn.execute(select(token_versions).order_by(token_versions.c.committed_at.desc(),
                                                                  token_versions.c.id.desc()).limit(1)).first()
            have = set() if latest is None else set(conn.scalars(
                select(token_propagation.c.app_name).where(token_propagation.c.version_id == latest.id)))
            for app in apps:
                wanted = [v for v in new if app.created_at is None or v.committed_at >= app.created_at]
                if latest is not None and app.name not in have and all(v.id != latest.id for v in wanted):
                    wanted.append(TokenVersion(latest.sha, latest.version, latest.committed_at, latest.id))
                for version in wanted:
                    conn.execute(update(token_propagation).where(
                        token_propagation.c.app_name == app.name, token_propagation.c.first_seen_at.is_(None),
                        token_propagation.c.superseded_by.is_(None),
                        token_propagation.c.version_id.in_(select(token_versions.c.id).where(
                            token_versions.c.committed_at < version.committed_at))).values(superseded_by=version.version))
                    start = max(version.committed_at, app.created_at or version.committed_at)
                    conn.execute(insert(token_propagation).values(version_id=version.id, app_name=app.name,
                                                                  committed_at=start))

    @staticmethod
    def _record(conn: Connection, observation: Observation, last: Seen | None) -> None:
        """Update the app's unseen rows: first seen (with the previous good poll) or what it still serves."""
        unseen = and_(token_propagation.c.app_name == observation.app, token_propagation.c.first_seen_at.is_(None))
        if observation.version is not None:
            ids = select(token_versions.c.id).where(token_versions.c.version == observation.version)
            # The previous good poll bounds the switch only if it showed another version: an app can serve a
            # version before this monitor records its commit (a lagging clone), and then no bound is known.
            previous = datetime.fromtimestamp(last.at, UTC) if last and last.version != observation.version else None
            conn.execute(update(token_propagation).where(unseen, token_propagation.c.version_id.in_(ids)).values(
                first_seen_at=observation.at, previous_poll_at=previous, last_polled_at=observation.at,
                reachable=True, last_served=observation.version, last_error=None))
        values = {"last_polled_at": observation.at, "reachable": observation.version is not None,
                  "last_error": observation.error}
        if observation.version is not None:
            values["last_served"] = observation.version
        conn.execute(update(token_propagation).where(unseen).values(**values))

    def _alert(self, now: datetime) -> list[Alert]:
        """One alert per overdue (version, app), one resolved when it arrives or is superseded: the row's
        ``alerted_at``/``resolved_at`` make each happen once, whatever the number of ticks."""
        sent = []
        query = select(token_propagation, token_versions.c.version, token_versions.c.sha).join(
            token_versions, token_versions.c.id == token_propagation.c.version_id).where(
            token_propagation.c.resolved_at.is_(None), _registered,
            and_(token_propagation.c.first_seen_at.is_(None), token_propagation.c.superseded_by.is_(None))
            | token_propagation.c.alerted_at.isnot(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            status = status_of(row, now, self.slo)
            if row.alerted_at is None and status in ("overdue", "unknown") and now - row.committed_at >= self.slo:
                alert, column = self._overdue(row, now), "alerted_at"
            elif row.alerted_at is not None and status in ("ok", "late", "superseded"):
                alert, column = self._resolved(row, status), "resolved_at"
            else:
                continue
            self.alerter.send(alert)
            sent.append(alert)
            with self.engine.begin() as conn:
                conn.execute(update(token_propagation).where(token_propagation.c.id == row.id).values({column: now}))
        return sent

    def _key(self, row: Any) -> str:
        return f"token-propagation:{row.app_name}:{row.sha[:12]}"

    def _overdue(self, row: Any, now: datetime) -> Alert:
        minutes = (now - row.committed_at).total_seconds() / 60
        serves = row.last_served if row.reachable else f"unknown (unreachable: {row.last_error})"
        return Alert(TASK, self._key(row), f"{row.app_name} has not picked up design tokens {row.version} "
                     f"{minutes:.1f} min after its commit (SC-002: {self.slo.total_seconds() / 60:g} min); "
                     f"it still serves {serves}", details={"app": row.app_name, "version": row.version,
                                                            "sha": row.sha, "serves": row.last_served,
                                                            "committed_at": row.committed_at.isoformat()},
                     environment=self.environment)

    def _resolved(self, row: Any, status: str) -> Alert:
        if status == "superseded":
            summary = (f"{row.app_name}: design tokens {row.version} were superseded by {row.superseded_by} "
                       "before the app served them")
        else:
            late = (row.first_seen_at - row.committed_at).total_seconds() / 60
            summary = f"{row.app_name} now serves design tokens {row.version} ({late:.1f} min after its commit)"
        return Alert(TASK, self._key(row), summary, severity="resolved",
                     details={"app": row.app_name, "version": row.version, "status": status},
                     environment=self.environment)

    # -- the table ------------------------------------------------------------------------------------------
    def table(self, version: str | None = None) -> list[Row]:
        """Rows of ``version`` (default: the latest version), one per app, as of now."""
        now = self.clock()
        with self.engine.connect() as conn:
            if version is None:
                version = conn.scalar(select(token_versions.c.version).order_by(
                    token_versions.c.committed_at.desc(), token_versions.c.id.desc()).limit(1))
            query = select(token_propagation, token_versions.c.version, token_versions.c.sha).join(
                token_versions, token_versions.c.id == token_propagation.c.version_id).where(
                token_versions.c.version == version, _registered).order_by(token_propagation.c.app_name)
            rows = conn.execute(query).all()
        return [Row(r.app_name, r.version, r.sha, r.committed_at, r.first_seen_at, r.previous_poll_at, r.last_served,
                    r.last_error, r.superseded_by, status_of(r, now, self.slo)) for r in rows]

    def failing(self, rows: list[Row]) -> list[Row]:
        """Rows that fail SC-002: late, overdue, or unknown once the objective's time is up."""
        now = self.clock()
        return [r for r in rows if r.status in ("late", "overdue")
                or (r.status == "unknown" and now - r.committed_at >= self.slo)]

    def history_stats(self, since: datetime) -> dict[str, dict[str, float]]:
        """Per app, p50/p95/max propagation seconds of versions committed since ``since`` (the UI plots)."""
        query = select(token_propagation.c.app_name, token_propagation.c.first_seen_at,
                       token_propagation.c.committed_at).where(token_propagation.c.first_seen_at.isnot(None),
                                                               token_propagation.c.committed_at >= since)
        per_app: dict[str, list[float]] = {}
        with self.engine.connect() as conn:
            for app, seen, committed in conn.execute(query):
                per_app.setdefault(app, []).append((seen - committed).total_seconds())
        return {app: {"p50_s": statistics.median(v), "p95_s": _p95(v), "max_s": max(v)}
                for app, v in sorted(per_app.items())}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def open_monitor(engine: Engine, settings: Any, alerter: Alerter, *, clock: Callable[[], datetime] = utcnow,
                 **overrides: Any) -> Monitor:
    """The monitor as configured: ``settings`` is the whole :class:`~..settings.Settings`; ``overrides``
    (non-None) win over its ``tokens`` group (a resource's config)."""
    from ..github.client import GitHubClient
    from ..loadtest.service import keyring_lookup

    group = settings.tokens.merged(**overrides)
    poller = Poller(timeout=group.poll_timeout_seconds, concurrency=group.poll_concurrency,
                    secrets=keyring_lookup(engine))
    versions = VersionStore(engine, clock=clock, github=lambda: GitHubClient(settings.github.token))
    return Monitor(engine, poller, alerter, slo_seconds=group.slo_seconds, environment=settings.environment,
                   clock=clock, versions=versions)
