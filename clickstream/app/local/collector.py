"""The local stack's collector: how ``local up`` starts ``clickstream collector serve`` against the emulator."""

from __future__ import annotations

import os
import sys

from clickstream.core.config import Settings

ALLOWED_ORIGINS_ENV = "CLICKSTREAM_COLLECTOR_ALLOWED_ORIGINS"


def settings_env(settings: Settings) -> dict[str, str]:
    """Where the collector publishes, as the variables ``Settings.from_env`` reads."""
    env = {
        "CLICKSTREAM_PROJECT": settings.project,
        "CLICKSTREAM_TOPIC": settings.topic,
        "CLICKSTREAM_REJECTED_TOPIC": settings.rejected_topic,
    }
    if settings.pubsub_emulator_host:
        env["PUBSUB_EMULATOR_HOST"] = settings.pubsub_emulator_host
    return env


def command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The collector on 127.0.0.1 with the local write key; any browser origin may send unless
    ``CLICKSTREAM_COLLECTOR_ALLOWED_ORIGINS`` says otherwise (it serves this machine only)."""
    env = {**os.environ, **settings_env(settings.with_local_endpoints())}
    args = [sys.executable, "-m", "clickstream.app.cli", "collector", "serve", "--host", "127.0.0.1"]
    args += ["--port", str(settings.collector_port), "--state-dir", str(settings.state_dir)]
    if not env.get(ALLOWED_ORIGINS_ENV):
        args += ["--allowed-origin", "*"]
    return args, env
