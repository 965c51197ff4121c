"""A JSON event as the HTTP collector receives it, for the tests of what a dead letter keeps of a
person (tests/unit/test_dead_letter_privacy.py, test_consent_denied_dead_letters.py)."""

from __future__ import annotations

from typing import Any

from tests.support.teststream import CLIENT, T0_MS

UA = CLIENT.user_agent


def json_item(**changes: Any) -> dict[str, Any]:
    """A VideoPaused item with raw ids and a negative position (so it fails validation)."""
    item = {
        "event_type": "VideoPaused",
        "event_ts": T0_MS,
        "user_id": "raw-user-ann",
        "device_id": "raw-dev-ann",
        "client": {"platform": "web", "app_version": "6.1.0", "user_agent": UA},
        "payload": {"video_id": "vid-000001", "position_ms": -1},
    }
    return {**item, **changes}
