"""Client library for publishing clickstream events, and the traffic simulator.

Typical use::

    from emitters import ClientInfo, EventPublisher, PublisherConfig, video_paused

    publisher = EventPublisher(PublisherConfig.from_settings(Settings.from_env()))
    publisher.publish(video_paused(user_id="u-1", device_id="d-1", client=ClientInfo(...),
                                   video_id="vid-000042", position_ms=61_000))
    publisher.close()   # waits until every event is delivered or spooled to disk
"""

from emitters.events import (
    ClientInfo,
    Consent,
    Event,
    Exploration,
    ShownThumbnail,
    ThumbnailClicked,
    ThumbnailsShown,
    VideoPaused,
    thumbnail_clicked,
    thumbnails_shown,
    video_paused,
)
from emitters.publisher import EventPublisher, PublisherConfig, PublishReport, SpoolFullError

__all__ = [
    "ClientInfo",
    "Consent",
    "Event",
    "EventPublisher",
    "Exploration",
    "PublishReport",
    "PublisherConfig",
    "ShownThumbnail",
    "SpoolFullError",
    "ThumbnailClicked",
    "ThumbnailsShown",
    "VideoPaused",
    "thumbnail_clicked",
    "thumbnails_shown",
    "video_paused",
]
