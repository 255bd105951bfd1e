"""Which segments are in live use (contract §5), so that apply can mark them active.

The definition lives in `segpipe.lifecycle.usage`, shared with the inactivity classification.
"""

from __future__ import annotations

from segpipe.lifecycle.usage import ATTACHABLE, KIND_NAMES, LIVE_STATUSES, live_consumers, live_segment_reasons

__all__ = ["ATTACHABLE", "KIND_NAMES", "LIVE_STATUSES", "live_consumers", "live_segment_reasons"]
