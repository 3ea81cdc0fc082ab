"""Supervised tasks: each long-running activity restarts with capped back-off after an unexpected exception.

A supervised task ends only when it returns normally or the supervisor is stopped; a crash is logged
with context and counted, never fatal to the process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)


@dataclass
class TaskStats:
    """Health of one supervised task (shown by `zoe-ems status`)."""

    name: str
    restarts: int = 0
    last_error: str | None = None
    last_error_utc: float | None = None
    running: bool = False


@dataclass
class Supervisor:
    """Runs named coroutine factories and restarts them when they raise."""

    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stats: dict[str, TaskStats] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run ``factory()`` under supervision as task ``name``."""
        self.stats[name] = TaskStats(name)
        self._tasks[name] = asyncio.create_task(self._supervise(name, factory), name=name)

    async def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        stats = self.stats[name]
        delay = self.backoff_initial_s
        while True:
            started = time.monotonic()
            stats.running = True
            try:
                await factory()
                stats.running = False
                log.info("task finished", task=name)
                return
            except asyncio.CancelledError:
                stats.running = False
                raise
            except Exception as exc:
                stats.running = False
                stats.restarts += 1
                stats.last_error = f"{type(exc).__name__}: {exc}"
                stats.last_error_utc = time.time()
                if time.monotonic() - started > 60.0:
                    delay = self.backoff_initial_s
                log.exception("task crashed, restarting", task=name, restart_in_s=delay, restarts=stats.restarts)
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, self.backoff_max_s)

    async def stop(self, names: Iterable[str] | None = None) -> None:
        """Cancel the named tasks (all when ``names`` is None) and wait for them to end."""
        chosen = list(self._tasks) if names is None else [n for n in names if n in self._tasks]
        tasks = [self._tasks.pop(name) for name in chosen]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def names(self) -> list[str]:
        """Names of the tasks still supervised."""
        return list(self._tasks)

    def to_dict(self) -> dict[str, object]:
        return {
            name: {"running": s.running, "restarts": s.restarts, "last_error": s.last_error}
            for name, s in self.stats.items()
        }
