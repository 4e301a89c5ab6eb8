"""The heartbeat: a dispatcher refreshes the claims it holds, so that others can tell it lives.

Every ``interval`` seconds (the claim's ``heartbeatS``: 5 s, or
``$BABYSIT_PLUGIN_HEARTBEAT_INTERVAL``) one greenlet sets the modification time
of each claim file this process holds (:meth:`PluginStore.refresh_held`: one
open, read and ``futimens`` per claim, no rewrite, no fsync).  A reader
(``status``, a second dispatcher, the hook) counts a claim as dead once its
file is older than :data:`~babysit_plugin.runloop.claims.STALE_FACTOR`
intervals (30 s by default), even while its pid lives: a dispatcher stopped
with SIGSTOP, wedged, or a pid reused after a reboot.  It is then taken over
as a dead pid's claim is (its orphans killed first).

A dispatcher that wakes up after losing a claim finds out before it saves or
posts anything for that effect (both check the claim under the claims mutex),
so the effect's new owner alone posts it.
"""

from __future__ import annotations

import gevent

from babysit_plugin.runloop.store import PluginStore

#: Why an effect was given up by a dispatcher that lost its claim.
TAKEN_OVER = (
    "its claim was taken over by another dispatcher (this one's heartbeat was older than "
    "the bound); left to the new owner"
)


class Heartbeat:
    """Refreshes a store's held claims from a greenlet until :meth:`stop`."""

    def __init__(self, store: PluginStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._greenlet: gevent.Greenlet[[], None] | None = None

    def _run(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.store.refresh_held()

    def start(self) -> Heartbeat:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None


def start(store: PluginStore) -> Heartbeat:
    """Start refreshing ``store``'s held claims at its recorded interval."""
    return Heartbeat(store, store.heartbeat_s).start()
