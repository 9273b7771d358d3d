"""Browser tier: Playwright for Python driving Debian's Chromium (`apt-get install chromium`;
`.ci/services.sh` installs it) against the shared e2e server. No browser download: the tests
launch /usr/bin/chromium headless. Without it they skip, loudly."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import demo_graph
from tests.e2e.api.accounts import Account, seed_admin
from tests.e2e.conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
PASSWORD = "browser-password"
COOKIE = "access_token_cookie"
# Playwright's own waits (ms): generous for a shared 2-core machine, far below the test timeout.
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser(admin: Account) -> Iterator[Browser]:
    # `admin` first: seeding it runs asyncio.run, impossible once Playwright's loop runs.
    # Module scope: Playwright's sync API keeps an event loop running in this thread until it
    # stops, which would break every later asyncio test and fixture of the session.
    if not CHROMIUM.exists():
        message = (
            "!!! BROWSER TESTS SKIPPED: /usr/bin/chromium is missing "
            "(apt-get install -y chromium; .ci/services.sh does it) !!!"
        )
        print("\n" + message, file=sys.stderr)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1180, "height": 760})
    ctx.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    ctx.on("page", lambda page: _watch(page, errors))
    yield ctx
    for page in ctx.pages:  # shown by pytest when the test failed
        print(f"--- {page.url}\n{page.inner_text('body')[-3000:]}")
    ctx.close()
    assert errors == [], f"the page threw: {errors}"


def _watch(page: Page, errors: list[str]) -> None:
    """Record page errors (the test fails on any) and print console lines and socket frames."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: print(f"console {msg.type}: {msg.text}"))
    page.on("websocket", lambda ws: _frames(ws))


def _frames(ws: Any) -> None:
    print(f"socket {ws.url}")
    ws.on("framesent", lambda payload: print(f"sent {str(payload)[:200]}"))
    ws.on("framereceived", lambda payload: print(f"got {str(payload)[:160]}"))
    ws.on("close", lambda _ws: print("socket closed"))


@pytest.fixture(scope="session")
def admin(server: Server) -> Account:
    return seed_admin(server)


def public_flow(admin: Account, name: str, **model_params: Any) -> dict[str, Any]:
    """An online flow every user may chat with, on the demo model with `model_params`."""
    body = {"name": name, "data": demo_graph(**model_params), "public": True}
    flow: dict[str, Any] = admin.data(admin.post("/api/v1/flows", body))
    online: dict[str, Any] = admin.data(admin.patch(f"/api/v1/flows/{flow['id']}", {"status": 2}))
    return online


@pytest.fixture(scope="session")
def slow_flow(admin: Account) -> dict[str, Any]:
    """Answers of 200 tokens at 25 tokens/s: long enough to stop or cut the network mid-answer."""
    return public_flow(
        admin, f"slow-{uuid.uuid4().hex[:4]}", tokens_per_second=25, answer_tokens=200
    )


def register_in_page(page: Page, server: Server, prefix: str) -> str:
    """Open `/`, register a new account with the page's form; returns the user name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    page.goto(server.base + "/")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#register-button")
    page.wait_for_function(
        "n => document.querySelector('#who').textContent.startsWith(n)", arg=name
    )
    return name


def cookie_client(server: Server, context: BrowserContext) -> httpx.Client:
    """A REST client with the page's login cookie (what the page itself sends)."""
    cookies = {
        c["name"]: c["value"] for c in context.cookies() if c["name"] == "access_token_cookie"
    }
    assert cookies, "the login set no access_token_cookie"
    return httpx.Client(base_url=server.base, cookies=cookies, timeout=30)


def start_chat(page: Page, flow_id: str) -> str:
    """Pick the app, start a new chat and wait for its socket; returns the chat id."""
    page.wait_for_selector(f"#app-picker option[value='{flow_id}']", state="attached")
    page.select_option("#app-picker", flow_id)
    page.click("#new-chat")
    page.wait_for_function(
        "id => location.hash.includes('chat=') && location.hash.includes(id)"
        " && document.querySelector('#status').textContent === 'connected'",
        arg=flow_id,
    )
    return str(page.evaluate("new URLSearchParams(location.hash.slice(1)).get('chat')"))


def ask(page: Page, text: str) -> None:
    page.fill("#question", text)
    page.press("#question", "Enter")


LAST_ANSWER = "(() => [...document.querySelectorAll('.msg.bot')].pop()?.dataset.text || '')()"


def last_answer(page: Page) -> str:
    """The text of the newest answer bubble, as streamed and rendered."""
    return str(page.evaluate(LAST_ANSWER))
