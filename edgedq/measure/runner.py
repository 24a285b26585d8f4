"""The one way measurements reach a device: hold it, push the agent and the files, then one fresh agent
process per request.  bench, eval and run all go through ``AgentRunner``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from edgedq.device import connect
from edgedq.device.agent import one_request
from edgedq.device.bundle import build_agent
from edgedq.device.connection import Connection, PushReport, UploadProgress
from edgedq.device.inventory import Device, get_device
from edgedq.files import sha256_file
from edgedq.measure.events import Connecting, Events, LockWait, RunProgress, Uploaded, Uploading


@contextlib.contextmanager
def connection_to(
    device: Device | str,
    connection: Connection | None,
    inventory: str | Path | None,
    accept_new_host: bool,
    notify: Events,
) -> Iterator[Connection]:
    """The caller's open connection (kept open), or one opened here to ``device`` (a Device or a name) and closed."""
    if connection is not None:
        yield connection
        return
    device = device if isinstance(device, Device) else get_device(device, inventory)
    notify(Connecting(device.name))
    with connect(device, accept_new_host) as opened:
        yield opened


@contextlib.contextmanager
def hold_and_push(
    connection: Connection,
    files: list[Path],
    lock_wait: float,
    on_wait: Callable[[str], None] | None = None,
    progress: UploadProgress | None = None,
) -> Iterator[PushReport]:
    """Hold the device and make ``files`` present on it, the two at once: the store needs no lock (it takes only
    verified files, atomically), so the offers go while the lock is being taken and one round trip is saved.

    Interrupted (Ctrl-C), it closes the connection rather than wait for an upload: nothing half-copied stays.
    """
    pool = ThreadPoolExecutor(1, thread_name_prefix="edgedq-push")
    pushing = pool.submit(connection.push, files, progress)
    try:
        with connection.hold(lock_wait, on_wait):
            yield pushing.result()
    except BaseException:
        if not pushing.done():
            connection.close()
        raise
    finally:
        pool.shutdown(wait=False)


class AgentRunner:
    """``with AgentRunner(connection, files, lock_wait, notify) as runner: runner.request(...)``.

    Entering takes the device's lock (waiting up to ``lock_wait`` seconds) and makes the agent and
    ``files`` present there; ``push`` says what that cost.  Leaving releases the device.
    """

    def __init__(self, connection: Connection, files: list[Path], lock_wait: float, notify: Events) -> None:
        self.connection, self.files, self.lock_wait, self.notify = connection, files, lock_wait, notify
        self.agent = build_agent()
        self.push = PushReport()
        self._stack = contextlib.ExitStack()

    @property
    def device(self) -> str:
        return self.connection.name

    def __enter__(self) -> AgentRunner:
        with self._stack as stack:
            uploading = lambda sent, total: self.notify(Uploading(self.device, sent, total))  # noqa: E731
            waiting = lambda text: self.notify(LockWait(self.device, text))  # noqa: E731
            held = hold_and_push(self.connection, [self.agent.path, *self.files], self.lock_wait, waiting, uploading)
            self.push = stack.enter_context(held)
            self.notify(Uploaded(self.device, self.push.sent_files, self.push.sent_bytes, self.push.skipped_files))
            self._stack = stack.pop_all()  # keep holding past this block
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.close()

    def remote(self, path: Path) -> str:
        """Where a pushed file is on the device."""
        return self.push.remote[Path(path)]

    def request(
        self,
        kind: str,
        body: dict[str, Any],
        timeout: float,
        label: str | None = None,
        *,
        verify: list[Path] = (),  # type: ignore[assignment]
        deadline_s: float | None = None,
        on_hello: Callable[[dict[str, Any]], None] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A fresh agent process answers one request: (its hello, the result); its progress becomes events.

        The agent checks each ``verify`` file's sha256 before it uses it; ``timeout`` bounds the agent's silence,
        ``deadline_s`` the whole request.  A streaming request's hello and events go to ``on_hello``/``on_event``.
        """
        body = {**body, "verify": {self.remote(path): sha256_file(Path(path)) for path in verify}}

        def progress(message: dict[str, Any]) -> None:
            if label is not None:
                event = RunProgress(self.device, label, message["phase"], message["done"], message["target"])
                self.notify(event)

        process = self.connection.start_agent(self.agent.path)
        return one_request(process, self.device, kind, body, timeout, progress, deadline_s, on_hello, on_event)
