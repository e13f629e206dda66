"""A bounded set of recently seen keys (least recently seen evicted first).

cryptolisting.ws may deliver an announcement twice around a reconnect (§7.1 gives no sequence
numbers to detect overlap), so announcements are deduplicated by a stable key; memory stays
bounded by ``capacity`` keys.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentKeys:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str) -> bool:
        """True when ``key`` was seen (it becomes the most recent); otherwise remember it."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return False

    def copy(self) -> RecentKeys:
        twin = RecentKeys(self.capacity)
        twin._keys = OrderedDict(self._keys)
        return twin

    def __len__(self) -> int:
        return len(self._keys)
