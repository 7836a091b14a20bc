"""Design-token propagation monitoring (seed "Future Enhancements", SC-002 ≤ 5 min), as plain Python.

* :mod:`.versions` — token versions from a git repository (a local clone or GitHub): one per commit that
  changes the tokens file, with its committer time.
* :mod:`.apps` — the apps a version must reach, and how each tells the version it serves.
* :mod:`.poller` — conditional polling of every app (ETag / If-None-Match), and the sensor's cursor.
* :mod:`.monitor` — one tick (first seen per version and app, alerts once) and the propagation table.
"""

from .apps import App, AppError, AppRegistry, NoVersion
from .monitor import Monitor, Row, TickResult
from .poller import Cursor, Observation, Poller
from .versions import TokenSource, TokenSourceError, TokenVersion, VersionStore

__all__ = ["App", "AppError", "AppRegistry", "Cursor", "Monitor", "NoVersion", "Observation", "Poller", "Row",
           "TickResult", "TokenSource", "TokenSourceError", "TokenVersion", "VersionStore"]
