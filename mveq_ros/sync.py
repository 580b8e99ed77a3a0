"""Pairing side messages (camera_info, masks, detections) with an image by header stamp, without
message_filters (not on PyPI): a small cache of the latest messages keyed by stamp."""

from __future__ import annotations

import threading
from collections import OrderedDict


def stamp_seconds(header) -> float:
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


class StampCache:
    """The last ``size`` messages by header stamp; :meth:`match` finds the one closest to a stamp
    within ``tolerance`` seconds (ApproximateTime-like pairing, one side message per image)."""

    def __init__(self, size: int = 30):
        self.size = size
        self._items: OrderedDict[float, object] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, msg) -> None:
        with self._lock:
            self._items[stamp_seconds(msg.header)] = msg
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def latest(self):
        with self._lock:
            return next(reversed(self._items.values())) if self._items else None

    def match(self, header, tolerance: float):
        """The cached message whose stamp is nearest to ``header``'s, if within ``tolerance``."""
        t = stamp_seconds(header)
        with self._lock:
            if not self._items:
                return None
            stamp, msg = min(self._items.items(), key=lambda kv: abs(kv[0] - t))
        return msg if abs(stamp - t) <= tolerance else None

    def __len__(self) -> int:
        return len(self._items)


def detection_boxes(msg) -> dict[str, list[float]]:
    """Best-scored [x0, y0, x1, y1] per class id of a vision_msgs/Detection2DArray (class id = object
    name). Duck-typed: works on any message with that layout."""
    best: dict[str, tuple[float, list[float]]] = {}
    for det in msg.detections:
        if not det.results:
            continue
        hypothesis = max(det.results, key=lambda r: r.hypothesis.score).hypothesis
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        if w <= 0 or h <= 0:
            continue
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        name = str(hypothesis.class_id)
        if name not in best or hypothesis.score > best[name][0]:
            best[name] = (float(hypothesis.score), box)
    return {name: box for name, (_, box) in best.items()}
