"""One Modbus bus (a TCP connection or a serial line) served by exactly one asyncio task.

Owns the request queue of every unit id on the bus (writes ahead of reads), the bus-wide pause between frames,
per-attempt timeouts and retries, the late-reply guard on RTU, and connecting/reconnecting with capped back-off.
Must never let one device's failure cost other devices more than that device's own timeout budget, and never
run two requests on the bus at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from functools import partial

import structlog
from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ConnectionException

from drivers.errors import BusUnavailable, DecodeError, DeviceError, DeviceExceptionResponse, DeviceTimeout
from drivers.transport.backoff import Backoff
from drivers.transport.clients import discard_input, fail_outstanding, make_client, uses_rtu_framing
from drivers.transport.device import DeviceLink
from drivers.transport.params import BusOptions, BusParams, DeviceLinkParams, TcpBusParams
from drivers.transport.request import (
    GATEWAY_PATH_UNAVAILABLE,
    GATEWAY_TARGET_NO_RESPONSE,
    BadReply,
    ExceptionReply,
    Request,
    perform,
)
from drivers.transport.stats import BusStats

log = structlog.get_logger(__name__)

_GATEWAY_CODES = (GATEWAY_PATH_UNAVAILABLE, GATEWAY_TARGET_NO_RESPONSE)


class Bus:
    """Serializes all requests of all unit ids on one bus through one task."""

    def __init__(self, params: BusParams, options: BusOptions) -> None:
        self.params = params
        self.options = options
        self.key = params.key
        self.label = params.label
        self.stats = BusStats(key=params.key)
        self._links: dict[int, DeviceLink] = {}
        self._writes: deque[Request] = deque()
        self._reads: deque[Request] = deque()
        self._wake = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._client: ModbusBaseClient | None = None
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._current: Request | None = None
        self._in_flight = False
        self._last_frame_end: float | None = None
        self._pause_s = 0.0
        self._silent_requests = 0
        self._reconnect = Backoff(options.reconnect_initial_s, options.reconnect_max_s)
        self._outage_logged = False
        self._stopping = False

    # ---- configuration -------------------------------------------------------------------------------------

    def add_link(self, params: DeviceLinkParams, name: str) -> DeviceLink:
        """Register a unit id on this bus (the same unit twice only with identical link parameters)."""
        if uses_rtu_framing(self.params) and not 1 <= params.unit <= 247:
            raise ValueError(f"{name}: unit {params.unit} is not addressable on an RTU line (use 1..247)")
        existing = self._links.get(params.unit)
        if existing is not None:
            if existing.params != params:
                raise ValueError(
                    f"{name}: unit {params.unit} on {self.label} is already used by {existing.name} "
                    "with different link parameters"
                )
            return existing
        link = DeviceLink(params, name, self.label)
        self._links[params.unit] = link
        self._pause_s = max(self._pause_s, params.inter_request_delay_s)
        return link

    @property
    def pause_s(self) -> float:
        """Pause between two frames on this bus: the largest ``inter_request_delay_s`` of its devices."""
        return self._pause_s

    # ---- lifecycle ----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected and self.stats.connected

    def start(self) -> None:
        """Start the bus task (idempotent); it connects and then serves requests."""
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"modbus-bus {self.key}")

    async def stop(self) -> None:
        """Stop the task, close the connection and fail every pending request with ``BusUnavailable``."""
        self._stopping = True
        task, self._task = self._task, None
        # Cancel until done: on Python 3.11 asyncio.wait_for inside pymodbus can swallow one cancellation.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.1)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("modbus bus task ended with an error", bus=self.label, error=repr(task.exception()))
        self._close_client()
        if self._current is not None:
            self._settle(self._current, BusUnavailable(self._current.link.name, f"bus {self.label} stopped"))
            self._current = None
        self._fail_queued(f"bus {self.label} stopped")

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the bus is connected; False if it is not within ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._connected_event.wait()
        except TimeoutError:
            return False
        return True

    # ---- requests -----------------------------------------------------------------------------------------

    async def submit(self, request: Request) -> list[int]:
        """Queue a request and wait for its result; fail fast when the bus is down or the device backs off."""
        link = request.link
        if not self.running:
            raise BusUnavailable(link.name, f"bus {self.label} is not running")
        if not self.connected:
            raise BusUnavailable(link.name, f"bus {self.label} is not connected ({self.stats.last_error})")
        link.check_admission(time.monotonic())
        (self._writes if request.is_write else self._reads).append(request)
        self.stats.queue_depth = len(self._writes) + len(self._reads)
        self._wake.set()
        return await request.future

    # ---- the bus task --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._cycle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the bus for good: log, reset, go on
                log.exception("modbus bus task error, restarting the connection", bus=self.label)
                self.stats.last_error = f"internal error: {exc!r}"
                self._close_client()
                if self._current is not None:
                    self._settle(self._current, BusUnavailable(self._current.link.name, "bus task error"))
                    self._current = None
                self._fail_queued("bus task error")
                await asyncio.sleep(self._reconnect.next_delay())

    async def _cycle(self) -> None:
        if not self.connected:
            if self._client is not None:
                self._mark_disconnected("connection lost")
            self._fail_queued(f"bus {self.label} disconnected")
            await self._connect()
            return
        request = self._pop()
        if request is None:
            self._wake.clear()
            await self._wake.wait()
            return
        self._current = request
        try:
            await self._serve(request)
        finally:
            self._current = None

    async def _connect(self) -> None:
        while not self._stopping:
            self._generation += 1
            longest_s = max([link.params.timeout_s for link in self._links.values()] + [self.options.connect_timeout_s])
            client = make_client(self.params, longest_s, partial(self._on_connection_change, self._generation))
            error = "connect failed"
            try:
                async with asyncio.timeout(self.options.connect_timeout_s):
                    ok = await client.connect()
            except TimeoutError:
                ok, error = False, f"connect timed out after {self.options.connect_timeout_s} s"
            except OSError as exc:
                ok, error = False, f"connect failed: {exc}"
            if self._stopping:
                client.close()
                return
            if ok and client.connected:
                self._client = client
                self._on_connected()
                return
            client.close()
            self.stats.connect_failures += 1
            self.stats.last_error = error
            delay = self._reconnect.next_delay()
            self.stats.reconnect_in_s = delay
            if not self._outage_logged:
                self._outage_logged = True
                log.warning("modbus bus unreachable", bus=self.label, error=error, retry_in_s=delay)
            await asyncio.sleep(delay)

    def _on_connected(self) -> None:
        self.stats.connected = True
        self.stats.connects += 1
        self.stats.reconnect_in_s = None
        self._reconnect.reset()
        self._last_frame_end = None
        self._silent_requests = 0
        self._outage_logged = False
        self._connected_event.set()
        log.info("modbus bus connected", bus=self.label, connects=self.stats.connects)

    def _on_connection_change(self, generation: int, up: bool) -> None:
        """pymodbus ``trace_connect`` callback; only a drop of the current client matters."""
        if up or generation != self._generation or not self.stats.connected:
            return
        self._mark_disconnected("connection lost")
        if self._in_flight and self._client is not None:
            fail_outstanding(self._client, ConnectionException("connection lost"))
        self._wake.set()

    def _mark_disconnected(self, reason: str) -> None:
        if self.stats.connected:
            self.stats.connected = False
            self.stats.disconnects += 1
            self.stats.last_error = reason
            self._connected_event.clear()
            log.warning("modbus bus disconnected", bus=self.label, reason=reason)
        if self._client is not None and not self._in_flight:
            self._close_client()

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if self.stats.connected:
            self.stats.connected = False
            self._connected_event.clear()

    async def _serve(self, request: Request) -> None:
        link = request.link
        if request.future.done():  # the caller gave up while queued
            return
        try:
            link.check_admission(time.monotonic())
        except DeviceError as exc:
            self._settle(request, exc)
            return
        link.stats.requests += 1
        attempts = link.attempts_allowed()
        heard_anything = False
        last_error: DeviceError = DeviceTimeout(link.name, "no attempt made")
        for _attempt in range(attempts):
            if request.future.done():
                return
            await self._pace()
            client = self._client
            if client is None or not self.connected:
                self._settle(request, BusUnavailable(link.name, f"bus {self.label} disconnected"))
                return
            started = time.monotonic()
            try:
                data = await self._attempt(client, request)
            except TimeoutError:
                if not self.connected:  # the connection dropped under the request: not the device's fault
                    self._settle(request, BusUnavailable(link.name, f"bus {self.label} disconnected"))
                    return
                link.stats.timeouts += 1
                self.stats.timeouts += 1
                last_error = DeviceTimeout(
                    link.name, f"no reply within {link.params.timeout_s} s to {request.describe()}"
                )
                await self._after_lost_reply(client, link.params)
                continue
            except BadReply as exc:
                heard_anything = True
                last_error = DecodeError(link.name, f"bad reply to {request.describe()}: {exc}")
                await self._after_lost_reply(client, link.params)
                continue
            except ExceptionReply as exc:
                heard_anything = True
                error = DeviceExceptionResponse(link.name, exc.code, request.describe())
                if exc.code in _GATEWAY_CODES:
                    last_error = error
                    continue
                self._silent_requests = 0
                link.stats.exception_responses += 1
                link.on_answer(time.monotonic(), None)
                self._settle(request, error)
                return
            except ConnectionException as exc:
                self._settle(request, BusUnavailable(link.name, f"bus {self.label}: {exc}"))
                return
            now = time.monotonic()
            self._silent_requests = 0
            link.on_answer(now, now - started)
            self._settle(request, data)
            return
        link.on_failure(time.monotonic(), last_error)
        self._settle(request, last_error)
        self._count_silence(heard_anything)

    async def _attempt(self, client: ModbusBaseClient, request: Request) -> list[int]:
        self._in_flight = True
        self.stats.frames_sent += 1
        try:
            async with asyncio.timeout(request.link.params.timeout_s):
                return await perform(client, request)
        finally:
            self._in_flight = False
            self._last_frame_end = time.monotonic()

    async def _after_lost_reply(self, client: ModbusBaseClient, params: DeviceLinkParams) -> None:
        """RTU has no transaction id: let a late reply arrive and drop it before the next frame goes out."""
        if not uses_rtu_framing(self.params):
            return
        guard_s = min(self.options.rtu_late_reply_guard_s, params.timeout_s)
        if guard_s > 0:
            await asyncio.sleep(guard_s)
        if client is self._client and client.connected:
            discard_input(client)
        self._last_frame_end = time.monotonic()

    def _count_silence(self, heard_anything: bool) -> None:
        """A TCP connection on which nobody answers anything may be half-open: reconnect it."""
        limit = self.options.silent_requests_before_reconnect
        if heard_anything or not isinstance(self.params, TcpBusParams) or limit == 0:
            self._silent_requests = 0
            return
        self._silent_requests += 1
        if self._silent_requests >= limit:
            self._silent_requests = 0
            self._mark_disconnected(f"no reply to {limit} consecutive requests")
            self._close_client()

    async def _pace(self) -> None:
        if self._pause_s <= 0 or self._last_frame_end is None:
            return
        wait_s = self._last_frame_end + self._pause_s - time.monotonic()
        if wait_s > 0:
            await asyncio.sleep(wait_s)

    def _pop(self) -> Request | None:
        queue = self._writes or self._reads
        request = queue.popleft() if queue else None
        self.stats.queue_depth = len(self._writes) + len(self._reads)
        return request

    def _fail_queued(self, reason: str) -> None:
        while (request := self._pop()) is not None:
            self._settle(request, BusUnavailable(request.link.name, reason))

    @staticmethod
    def _settle(request: Request, outcome: list[int] | DeviceError) -> None:
        if request.future.done():
            return
        if isinstance(outcome, DeviceError):
            request.future.set_exception(outcome)
        else:
            request.future.set_result(outcome)
