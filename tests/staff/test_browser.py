"""The staff web console in headless Chromium (Selenium + chromedriver from
Debian's chromium / chromium-driver packages), served by its real entry
point ``python -m staff.web`` over a PostgreSQL tracker store, with the
machine's Redis for dead letters and a fake Rasa HTTP API that writes the
resume into the tracker store as Rasa would. One screenshot per page goes to
results/staff/."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from rasa.shared.core.events import ConversationResumed

from dlq import DLQSettings, build_queue
from tests.stack_common import free_port
from tests.staff import scenario
from tests.staff.conftest import PASSWORD, RASA_TOKEN, SESSION_SECRET, USER
from tests.staff.scenario import GMAIL, WHATSAPP, XSS

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "results" / "staff"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
)


@pytest.fixture
def browser(tmp_path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run scripts/ensure_system_tools.sh (Debian packages chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def staff_web(staff_env, tracker_store, tmp_path):
    """``python -m staff.web`` on a free port; its log is checked for secrets at the end."""
    port = free_port()
    log_path = tmp_path / "staff-web.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "staff.web", "--port", str(port)], cwd=ROOT,
                                   env={**os.environ, **staff_env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/staff.css", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("staff web did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.2)
    yield url, log_path
    process.terminate()
    process.wait(15)


def shoot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), name
    return path


def wait_for(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


async def _seed_dead_letters():
    queue = build_queue(DLQSettings.from_env(), record_metrics=False)
    try:
        waiting = await queue.enqueue("whatsapp.send", {"to": "34600111222"}, error="GraphError: 503",
                                      conversation_id=WHATSAPP, reason="send_failed")
        failed = await queue.enqueue("pms.create_booking", {"room": "suite", "nights": 3}, error="PMSUnavailable",
                                     conversation_id=GMAIL, reason="pms_unavailable")
        await queue.give_up(failed.id, "PMSUnavailable: circuit open after 3 retries")
        return waiting.id, failed.id
    finally:
        await queue.close()


async def _dead_letter_state():
    queue = build_queue(DLQSettings.from_env(), record_metrics=False)
    try:
        return {e.id for e in await queue.list_queued(50)}, {e.id for e in await queue.list_permanent(50)}
    finally:
        await queue.close()


@pytest.mark.parametrize("tracker_url", ["postgresql"], indirect=True)
def test_staff_console_in_chromium(browser, staff_web, fake_rasa, tracker_store, requests_store, staff_env):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    url, log_path = staff_web
    # Rasa appends the resume event to the conversation; the fake does the same
    fake_rasa.on_events = lambda sender_id, events: asyncio.run(
        scenario.save(tracker_store, sender_id, [ConversationResumed(timestamp=time.time())])
    )
    handoff = requests_store.add("handoff", WHATSAPP, scenario.HANDOFF_TEXT)
    requests_store.add("issue", XSS, scenario.XSS_TEXT, urgent=True)
    waiting_id, failed_id = asyncio.run(_seed_dead_letters())

    # anonymous -> sign-in page
    browser.get(f"{url}/conversations")
    wait_for(browser, "form.login")
    assert "/login" in browser.current_url
    shoot(browser, "login")
    browser.find_element(By.ID, "username").send_keys(USER)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "sign-in").click()

    # conversations, newest first; guest text shown as text, never run
    wait_for(browser, "table#conversations")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.conversation")
    assert [row.find_element(By.TAG_NAME, "a").text for row in rows] == scenario.BY_RECENCY
    assert scenario.XSS_TEXT in rows[1].text
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    assert browser.find_element(By.ID, "user").text == USER
    assert "PAUSED" in rows[2].text.upper()
    shoot(browser, "conversations")

    # a transcript
    browser.find_element(By.LINK_TEXT, WHATSAPP).click()
    wait_for(browser, "#transcript")
    entries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#transcript .entry")]
    assert "hola" in entries[1] and "Reservar" in entries[3] and "Handed to staff" in entries[-1]
    shoot(browser, "transcript")

    # handoffs: resume the bot
    browser.find_element(By.LINK_TEXT, "Handoffs").click()
    wait_for(browser, "table#handoffs")
    row = browser.find_element(By.ID, f"request-{handoff.id}")
    assert WHATSAPP in row.text and "paused" in row.text
    shoot(browser, "handoffs")
    row.find_element(By.CSS_SELECTOR, "button[name=resume]").click()
    flash = wait_for(browser, ".flash")
    assert f"#{handoff.id}" in flash.text
    assert fake_rasa.wait_for_resume(WHATSAPP)
    assert fake_rasa.calls[0].query["token"] == [RASA_TOKEN]
    assert requests_store.get(handoff.id).resolved_by == USER
    assert not browser.find_elements(By.ID, f"request-{handoff.id}")
    shoot(browser, "handoffs-after-resume")
    browser.find_element(By.LINK_TEXT, "Conversations").click()
    row = browser.find_elements(By.CSS_SELECTOR, "tr.conversation")[0]
    assert WHATSAPP in row.text and "PAUSED" not in row.text.upper()  # resumed: the bot answers again

    # dead letters: retry a permanent failure
    browser.find_element(By.LINK_TEXT, "Dead letters").click()
    wait_for(browser, "table#permanent")
    assert browser.find_element(By.ID, f"dl-{waiting_id}")
    shoot(browser, "dlq")
    browser.find_element(By.ID, f"dl-{failed_id}").find_element(By.CSS_SELECTOR, "button[name=retry]").click()
    flash = wait_for(browser, ".flash")
    assert failed_id in flash.text
    queued, permanent = asyncio.run(_dead_letter_state())
    assert queued == {waiting_id, failed_id} and permanent == set()
    assert browser.find_element(By.CSS_SELECTOR, "table#queued").find_elements(By.ID, f"dl-{failed_id}")
    shoot(browser, "dlq-after-retry")

    # log out: back to sign-in, and the pages are closed again
    browser.find_element(By.CSS_SELECTOR, "button[name=logout]").click()
    wait_for(browser, "form.login")
    browser.get(f"{url}/handoffs")
    wait_for(browser, "form.login")
    assert "/login" in browser.current_url

    log = log_path.read_text(errors="replace")
    assert "'alice' signed in" in log and "resumed the bot" in log
    for secret in (PASSWORD, RASA_TOKEN, SESSION_SECRET, staff_env["STAFF_USERS"].split(":", 1)[1][:40]):
        assert secret not in log
