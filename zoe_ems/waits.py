"""Cancellation-safe waiting on an asyncio event with a timeout.

Python 3.11's ``asyncio.wait_for`` can turn a cancellation that races with its own timeout (the event is set,
or the timeout fires, in the same loop turn as the task is cancelled) into a ``TimeoutError``. A loop that
treats ``TimeoutError`` as "nothing happened, go round again" then swallows its shutdown and never stops.
``asyncio.timeout`` does not have that race, so every long-lived loop waits through this helper.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` passes; True when set. Cancellation always propagates."""
    if event.is_set():
        return True
    if timeout_s <= 0:
        await asyncio.sleep(0)
        return event.is_set()
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
