"""Stored session state of older layouts; the one migration lives in ``protocol``.

Kept as a name only while ``session`` imports ``upgrade`` from here.
"""

from __future__ import annotations

from .protocol import upgrade_state as upgrade

__all__ = ["upgrade"]
