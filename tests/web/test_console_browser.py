"""The console in a real browser (Playwright driving Debian's Chromium, one launch for the module): log
in, create an agent (a validation error first), hold a text chat and a voice chat with a fake microphone,
open the stored conversation (transcript, audio element), check labels and the 390-px layout, and the API
docs without internet. A screenshot of each page goes to tests/artifacts/."""

from __future__ import annotations

import re
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from pydantic import SecretStr

from sdr_agent.app import create_app
from sdr_agent.settings import LLMSettings, Settings, STTSettings, TTSSettings, VADSettings
from tests.conftest import API_KEY, LiveServer, run_in_thread
from tests.web.caller_audio import caller_speech
from tests.web.conftest import make_agent

pytestmark = [pytest.mark.engines]
ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000
UNLABELLED_JS = """() => [
  ...document.querySelectorAll('input, select, textarea, button, audio, meter, a[href]')]
  .filter((el) => !el.hidden && el.offsetParent !== null)
  .filter((el) => {
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || el.getAttribute('title');
    const text = ['BUTTON', 'A'].includes(el.tagName) && el.textContent.trim();
    return !(labelled || text);
  }).map((el) => el.outerHTML.slice(0, 120))"""


def _chromium() -> str:
    result = subprocess.run(["bash", str(ROOT / "scripts" / "chromium-for-tests.sh")], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"no Chromium for the browser tests: {result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = ROOT / "tests" / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone says: a pause, the question in a caller voice, then a long pause (the
    file loops)."""
    speech = run_in_thread(caller_speech("How much does the team plan cost?", rate=16000))
    pcm = np.concatenate([np.zeros(16000 * 2, np.int16), speech, np.zeros(16000 * 25, np.int16)])
    path = tmp_path_factory.mktemp("mic") / "question.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("console")
    settings = Settings(
        _env_file=None, api_keys=[SecretStr(API_KEY)], data_dir=data, public_base_url="https://agent.test",
        database_url=f"sqlite+aiosqlite:///{data / 'db.sqlite'}", log_json=False,
        stt=STTSettings(provider="whisper", fallback="none"),
        tts=TTSSettings(provider="hibari", fallback="none"),
        llm=LLMSettings(provider="grounded", fallback="none"), vad=VADSettings(provider="silero"),
    )
    live = LiveServer(create_app(settings))
    live.start(timeout=120)
    try:
        yield live.url
    finally:
        live.stop()


@pytest.fixture(scope="module")
def browser(question_wav: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={question_wav}", "--autoplay-policy=no-user-gesture-required",
        ])
        try:
            yield launched
        finally:
            launched.close()


def _offline(page: Page, base: str) -> list[str]:
    """Refuse every request that leaves this server (a CDN would show up here); returns what was refused."""
    refused: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith(base.replace("http", "ws")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return refused


def _new_page(browser: Browser, base: str, width: int = 1280, height: int = 800) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base)
    context.grant_permissions(["microphone"])
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page, _offline(page, base)


def _open(page: Page, path: str) -> None:
    """Go to a console page and wait until its script has loaded the data and attached its handlers."""
    page.goto(path)
    if "/console/" in path:
        page.wait_for_selector("body[data-ready]", state="attached")


def _login(page: Page) -> None:
    _open(page, "/console/login")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/console/agents$"))


def _check_page(page: Page, artifacts: Path, name: str) -> None:
    unlabelled = page.evaluate(UNLABELLED_JS)
    assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
    width = page.viewport_size["width"] if page.viewport_size else 1280
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"{name}: page is {scroll}px wide in a {width}px window"
    page.screenshot(path=str(artifacts / f"console-{name}-{width}.png"), full_page=True)


def _campaign(base: str, agent_id: str) -> None:
    """A batch call scheduled a month ahead (nothing is dialed), for the campaigns page to show."""
    with httpx.Client(base_url=base, headers={"xi-api-key": API_KEY}, timeout=10) as http:
        number = http.post("/v1/convai/phone-numbers", json={
            "phone_number": "+14155552671", "label": "main", "provider": "twilio", "sid": "AC" + "1" * 32,
            "token": "token"})
        number.raise_for_status()
        batch = http.post("/v1/convai/batch-calling/submit", json={
            "call_name": "Spring outreach", "agent_id": agent_id,
            "agent_phone_number_id": number.json()["phone_number_id"],
            "scheduled_time_unix": int(time.time()) + 30 * 86400,
            "recipients": [{"phone_number": "+12025550143"}, {"phone_number": "+16502530000"}]})
        batch.raise_for_status()


def test_console_end_to_end(browser: Browser, server: str, artifacts: Path) -> None:
    page, refused = _new_page(browser, server)
    _open(page, "/console/agents")
    expect(page).to_have_url(re.compile(r"/console/login"))  # no key yet: sent to the login page
    page.get_by_label("API key").fill("wrong-key")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#api-key-error")).to_contain_text("not accepted")
    _check_page(page, artifacts, "login")
    _login(page)
    assert page.evaluate("sessionStorage.getItem('sdr-agent.api-key')") == API_KEY
    assert API_KEY not in page.url

    make_agent(server)  # one agent with the knowledge base, so the chats below have something to say
    expect(page.get_by_role("link", name="Create an agent")).to_have_attribute("href", "/console/agents/new")
    _open(page, "/console/agents/new")
    page.get_by_label("Re-prompt after silence (seconds)").fill("9999")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-name-error")).to_contain_text("name")
    expect(page.locator("#f-turn_timeout-error")).to_contain_text("300")
    _check_page(page, artifacts, "agent-new")
    page.get_by_label("Name").fill("Console agent")
    page.get_by_label("First message").fill("Hello from the console agent.")
    page.get_by_label("Re-prompt after silence (seconds)").fill("12")
    page.get_by_label("facts").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Agent created")
    agent_id = page.url.split("/console/agents/")[1].split("?")[0]
    expect(page.get_by_label("First message")).to_have_value("Hello from the console agent.")
    _check_page(page, artifacts, "agent-edit")
    _open(page, "/console/agents")
    expect(page.locator("#agents-table")).to_contain_text("Console agent")
    _check_page(page, artifacts, "agents")

    # Text chat.
    _open(page, f"/console/agents/{agent_id}/talk")
    page.get_by_role("button", name="Start text chat").click()
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("Hello from the console agent.")
    page.get_by_label("Message").fill("how much does the team plan cost")
    page.get_by_role("button", name="Send").click()
    expect(transcript.locator("li.agent").nth(1)).to_contain_text("49")
    _check_page(page, artifacts, "talk-text")
    page.get_by_role("button", name="End conversation").click()
    expect(page.locator("#conversation-link")).to_be_visible()

    # Voice chat: the fake microphone asks the question after two seconds.
    _open(page, f"/console/agents/{agent_id}/talk")
    page.get_by_role("button", name="Start voice chat").click()
    expect(transcript.locator("li.user").first).to_contain_text(re.compile("plan", re.I), timeout=60_000)
    expect(transcript.locator("li.agent").filter(has_text="49")).to_have_count(1, timeout=60_000)
    _check_page(page, artifacts, "talk-voice")
    time.sleep(1.0)  # let the answer finish playing, so the recording holds it
    page.get_by_role("button", name="End conversation").click()
    link = page.locator("#conversation-link a")
    expect(link).to_be_visible()
    conversation_url = link.get_attribute("href")
    assert conversation_url

    # The stored voice conversation: transcript, latency chart, audio player.
    _open(page, "/console/conversations")
    rows = page.locator("#conversations-table tbody tr")
    expect(rows).to_have_count(2)
    _check_page(page, artifacts, "conversations")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#conversations-empty")).to_be_visible()
    page.get_by_label("Status").select_option("")
    page.get_by_label("Agent").select_option(label="Sam")  # the other agent: no conversations
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#conversations-empty")).to_be_visible()
    page.get_by_label("Agent").select_option(label="Console agent")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(2)
    assert "agent_id=" in page.url and API_KEY not in page.url
    _open(page, conversation_url)
    expect(page.locator("#transcript")).to_contain_text("49")
    # The first message is stored once, even when the caller starts talking just as it ends.
    greeting = page.locator("#transcript li.agent").filter(has_text="Hello from the console agent.")
    expect(greeting).to_have_count(1)
    audio = page.locator("audio#recording")
    expect(audio).to_have_attribute("src", re.compile("^blob:"))
    _check_page(page, artifacts, "conversation")
    _campaign(server, agent_id)
    _open(page, "/console/campaigns")
    row = page.locator("#campaigns-table tbody tr").first
    expect(row).to_contain_text("Spring outreach")
    expect(row).to_contain_text("pending: 2")  # outcomes: both recipients still waiting for their slot
    _check_page(page, artifacts, "campaigns")
    assert refused == [], f"the console reached outside the server: {refused}"
    page.context.close()


def test_console_on_a_phone_and_api_docs_offline(browser: Browser, server: str, artifacts: Path) -> None:
    page, refused = _new_page(browser, server, width=390, height=844)
    _login(page)
    agent_id = make_agent(server)
    pages = [("/console/agents", "agents"), (f"/console/agents/{agent_id}", "agent-edit"),
             (f"/console/agents/{agent_id}/talk", "talk"), ("/console/conversations", "conversations")]
    for path, name in pages:
        _open(page, path)
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_load_state("networkidle")
        _check_page(page, artifacts, name)
    _open(page, f"/docs?api_key={API_KEY}")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("sdr-agent", timeout=WAIT_MS)
    expect(page.locator(".swagger-ui")).to_contain_text("get-signed-url")
    page.screenshot(path=str(artifacts / "api-docs-390.png"))
    assert refused == [], f"pages reached outside the server: {refused}"
    page.context.close()


