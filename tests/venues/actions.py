"""Picking apart the actions a venue protocol returns, for the pure protocol tests."""

from __future__ import annotations

from typing import Any

from feedgate.events import Event
from feedgate.protocol.base import Action, Emit


def events(actions: list[Action]) -> list[Event]:
    """The events of the ``Emit`` actions, in order."""
    return [a.event for a in actions if isinstance(a, Emit)]


def of_type(actions: list[Action], kind: type) -> list[Any]:
    """The emitted events that are ``kind``, in order."""
    return [e for e in events(actions) if isinstance(e, kind)]
