"""The types of an ASGI 3 application and the callables it is given (ASGI spec, "Applications").

Imported by the configuration (``Config.app``), the app loader and adapters, and every protocol;
it imports nothing of pounce.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
