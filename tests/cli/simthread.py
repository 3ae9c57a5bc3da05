"""A Simulator on its own event loop in a daemon thread, for blocking clients and `cli.main()`.

`zkpull.cli.main()` calls `asyncio.run` itself and zkaccess-c3 uses blocking sockets, so the
simulator cannot share the test's loop. Panel state is touched only on the simulator's thread:
`call()` runs a function there and returns its result.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from zkpull.simulator import FakePanel, PanelConfig, Simulator

T = TypeVar("T")
CALL_TIMEOUT = 10.0


class BackgroundSimulator:
    """`with BackgroundSimulator(configs, ...) as bg:` serves *configs* until the block ends."""

    def __init__(self, configs: Sequence[PanelConfig], **options: Any) -> None:
        self._configs = configs
        self._options = options
        self.clock: Any = options.get("clock")  # the ManualClock tests move, if one was given
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="zkpull-simulator", daemon=True
        )
        self.sim: Simulator | None = None

    def __enter__(self) -> BackgroundSimulator:
        self._thread.start()
        try:
            self.sim = self._run(self._start())
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.sim is not None:
                self._run(self.sim.stop())
        finally:
            self._shutdown()

    # -- access ---------------------------------------------------------------------------------
    @property
    def simulator(self) -> Simulator:
        assert self.sim is not None, "simulator not started"
        return self.sim

    def panel(self, index: int = 0) -> FakePanel:
        return self.simulator.panels[index]

    def port(self, index: int = 0) -> int:
        return self.simulator.ports[index]

    def target(self, index: int = 0) -> str:
        return f"127.0.0.1:{self.port(index)}"

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `function(*args, **kwargs)` on the simulator's loop thread; return its result."""

        async def invoke() -> T:
            return function(*args, **kwargs)

        return self._run(invoke())

    def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        """Poll *predicate* on the simulator's thread until it holds."""
        deadline = time.monotonic() + timeout
        while not self.call(predicate):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    # -- internals ------------------------------------------------------------------------------
    async def _start(self) -> Simulator:
        simulator = Simulator(self._configs, **self._options)
        await simulator.start()
        return simulator

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT)

    def _shutdown(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT)
        self._loop.close()


def free_port() -> int:
    """A TCP port nobody listens on (bound once by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
