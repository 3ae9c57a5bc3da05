"""zkpull: the ZKTeco C3/inBio PULL protocol in pure Python.

Layers, imports pointing down only: `cli` / `simulator` -> `client` -> `transport` -> `protocol`.
`protocol` is sans-I/O; `transport` moves bytes; `client.PanelClient` is where they meet.
Never imports Django, Redis or Prometheus (import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from .protocol import *  # noqa: F403 re-export the codec's public names
from .protocol import __all__ as _protocol_all

__version__ = "0.1.0"
__all__ = [*_protocol_all, "__version__"]
