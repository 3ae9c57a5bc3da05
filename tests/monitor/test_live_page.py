"""End to end in headless Chromium: simulator -> running agent -> database -> monitor -> browser.

Processes as deployed: the agent (`run_commcenter`) and the monitor (`run_monitor`, uvicorn)
are subprocesses sharing an on-disk SQLite database; the simulated panel runs in a thread of
the test. The browser logs in, sees an event the simulator generates appear without a page
load, clicks "Open" and the simulated door's lock opens; the command's result shows up on
the page. A screenshot goes to var/screenshots/live-monitor.png (never into the tracked docs/:
a test run must not dirty the tree); `MONITOR_SCREENSHOT=docs/screenshots/live-monitor.png`
refreshes the documented one.

Debian's /usr/bin/chromium only (never a downloaded browser): skipped with the reason when it
is missing on a developer machine, a failure when CI is set (scripts/ensure-chromium
installs it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import redis

from tests.cli.simthread import BackgroundSimulator
from zkpull.protocol.codes import EventType
from zkpull.simulator import PanelConfig

from .live_support import (
    PASSWORD,
    REPO,
    USER,
    agent,
    environment,
    get_json,
    monitor,
    prepare,
    query,
    wait,
)

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO / os.environ.get("MONITOR_SCREENSHOT", "var/screenshots/live-monitor.png")
UI_TIMEOUT_MS = 45_000  # generous: a loaded 2-core machine
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
ALARM_PIN = 4242
OPEN_SECONDS = 30  # long enough that the page still shows it unlocked on a slow machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _chromium_or_skip() -> None:
    if os.path.exists(CHROMIUM) and shutil.which(CHROMIUM):
        return
    reason = f"{CHROMIUM} is missing (scripts/ensure-chromium installs Debian's chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


def _redis_env_or_skip() -> dict[str, str]:
    """The agent and the monitor on the test Redis, its keys for device 1 cleared."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
        stale = [*client.keys("commcenter:queue:1:*"), b"commcenter:device:1"]
        client.delete(*stale)  # the shared database's device 1 is ours for this test
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but Redis is not reachable: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    finally:
        client.close()
    return {"ZKAGENT_BACKEND": "redis", "REDIS_URL": REDIS_URL, "MONITOR_AGENT_IDS": "e2e-live"}


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_live_page_shows_events_and_opens_the_door(tmp_path: Path, backend: str) -> None:
    _chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415 (only when run)

    database = tmp_path / "shared.sqlite3"
    env = environment(database, **(_redis_env_or_skip() if backend == "redis" else {}))
    config = PanelConfig(index=0, model="C3-400", events_per_second=0.0, users=5)
    with BackgroundSimulator([config]) as sim:
        panel = sim.panel()
        device_id = prepare(env, sim.port())
        with (
            agent(env, tmp_path / "agent.log") as agent_process,
            monitor(env, tmp_path / "monitor.log") as base,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
                executable_path=CHROMIUM,
                headless=True,
                args=FLAGS,
                viewport={"width": 1400, "height": 1000},
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(UI_TIMEOUT_MS)
                expect.set_options(timeout=UI_TIMEOUT_MS)

                # Login required: the page sends us to the login form first.
                page.goto(base + "/")
                assert "/login/" in page.url
                page.fill("#id_username", USER)
                page.fill("#id_password", PASSWORD)
                page.click("#login-submit")
                page.wait_for_url(base + "/")
                expect(page.locator("#link-state")).to_have_text("live")

                card = page.locator(f'article[data-device-id="{device_id}"]')
                (
                    expect(card.locator('[data-role="state"]')).to_have_text(
                        "online", timeout=UI_TIMEOUT_MS
                    ),
                    agent_process.output()[-3000:],
                )
                expect(card.locator('tr[data-door="1"] td.sensor')).to_have_text("closed")

                # No page load from here on: a marker on window survives only without one.
                page.evaluate("window.__noReload = 'still here'")

                # 1. Events generated by the simulator appear on the page.
                for pin in (1001, 1002):
                    sim.call(panel.emit, EventType.NORMAL_PUNCH_OPEN, door=1, pin=pin, card=pin)
                normal = page.locator(
                    f'#events tr[data-event-type="{int(EventType.NORMAL_PUNCH_OPEN)}"]'
                )
                expect(normal).to_have_count(2)
                expect(normal.first).not_to_have_class("alarm new")
                sim.call(panel.emit, EventType.OPENED_FORCEFULLY, door=2, pin=ALARM_PIN, card=0)
                alarm_row = page.locator(
                    f'#events tr[data-event-type="{int(EventType.OPENED_FORCEFULLY)}"]'
                )
                expect(alarm_row).to_have_count(1)
                expect(alarm_row).to_have_class("alarm new")  # alarms 100-199 highlighted
                expect(alarm_row).to_contain_text(str(ALARM_PIN))
                expect(alarm_row).to_contain_text("Opened Forcefully")
                # ...and the door's alarm state from the status records.
                expect(card.locator('tr[data-door="2"]')).to_have_class("alarm")

                # 2. A click on "Open" opens the simulated door; the result shows up.
                page.fill("#open-seconds", str(OPEN_SECONDS))
                card.locator('tr[data-door="1"] button[data-action="open"]').click()
                command_row = page.locator("#commands tbody tr").first
                expect(command_row).to_contain_text(f"DEVICE SET 1 1 {OPEN_SECONDS}")
                sim.wait_until(
                    lambda: panel.doors.door_unlocked(1), timeout=45.0, what="door 1 unlocked"
                )
                expect(command_row).to_have_attribute("data-status", "done")
                expect(command_row.locator("td.code")).to_have_text("0 success")
                remote = page.locator(
                    f'#events tr[data-event-type="{int(EventType.REMOTE_OPENING)}"]'
                )
                expect(remote).to_have_count(1)  # the panel logged the remote opening
                expect(card.locator('tr[data-door="1"] td.relay')).to_contain_text("unlocked")

                assert page.evaluate("window.__noReload") == "still here"
                if backend == "memory":  # the documented screenshot: the default setup
                    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOT), full_page=True)
            finally:
                browser.close()

            # The database agrees with what the page showed.
            rows = query(
                database,
                "SELECT status, return_code, content FROM agent_devicecommand WHERE device_id = ?",
                device_id,
            )
            assert rows == [("done", 0, f"DEVICE SET 1 1 {OPEN_SECONDS}")]
            stored = query(
                database,
                "SELECT COUNT(*) FROM agent_deviceeventlog WHERE event_type = ? AND pin = ?",
                int(EventType.OPENED_FORCEFULLY),
                str(ALARM_PIN),
            )
            assert stored == [(1,)]
            # Health while everything runs: 200, the agent alive by its status rows.
            wait(lambda: get_json(base + "/healthz")[0] == 200, 30.0, "a healthy /healthz")
            _, body = get_json(base + "/healthz")
            assert body["checks"]["devices"]["online"] == 1, body
            assert body["checks"]["agent"]["source"] == (
                "redis" if backend == "redis" else "database"
            )
        # With Redis the click also goes straight into the agent's Redis queue, unless the
        # agent's feeder (every 0.5 s) queued the committed row first: then the push is a
        # de-duplicated no-op. Either way the door opened above; never a push with memory.
        log = (tmp_path / "monitor.log").read_text()
        pushes = ("(pushed to Redis: True)", "(pushed to Redis: False)")
        expected = pushes if backend == "redis" else pushes[1:]
        assert any(line in log for line in expected), log[-3000:]
