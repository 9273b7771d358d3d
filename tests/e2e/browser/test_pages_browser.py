"""The two built-in pages in a real browser (Chromium via Playwright) against the shared e2e
server: a user registers, chats, stops, likes, reloads and finds the chat; a network cut mid-answer
is healed by `resume` with nothing lost or doubled; an admin sees the session on the dashboard.
Screenshots of both pages go to docs/screenshots/ (referenced from the README)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page

from tests.e2e.api.accounts import PASSWORD as ADMIN_PASSWORD
from tests.e2e.api.accounts import Account
from tests.e2e.browser.conftest import (
    LAST_ANSWER,
    SCREENSHOTS,
    ask,
    cookie_client,
    last_answer,
    public_flow,
    register_in_page,
    start_chat,
)
from tests.e2e.conftest import Server

DRAWER = "document.querySelector('#drawer').getBoundingClientRect()"
DRAWER = "document.querySelector('#drawer').getBoundingClientRect()"
MARKDOWN_ANSWER = (
    "Here is a **small** example:\n\n```python\ndef hello(name):\n    return f'hi {name}'\n```\n\n"
    "- it streams\n- it renders `code`\n"
)


def _answer_row(http: httpx.Client, chat_id: str, flow_id: str) -> dict[str, Any] | None:
    body = http.get("/api/v1/chat/chat/history", params={"chat_id": chat_id, "flow_id": flow_id})
    assert body.status_code == 200, body.text
    rows = [r for r in body.json()["data"] if r["category"] == "answer"]
    return rows[0] if rows else None


def _grows(page: Page) -> None:
    """The answer streams in: it has text, and later more text, before the turn ends."""
    page.wait_for_function(f"{LAST_ANSWER}.length > 0")
    seen = len(last_answer(page))
    page.wait_for_function(f"{LAST_ANSWER}.length > {seen}")
    assert page.is_enabled("#stop")


def test_user_chats_stops_likes_and_finds_the_chat_after_reload(
    server: Server, context: BrowserContext, slow_flow: dict[str, Any], admin: Account
) -> None:
    page = context.new_page()
    register_in_page(page, server, "browser")
    chat_id = start_chat(page, slow_flow["id"])
    ask(page, "hello there")
    page.wait_for_selector(".msg.human >> text=hello there")
    _grows(page)

    page.click("#stop")
    page.wait_for_selector(".msg.bot .stopped")
    page.wait_for_function("document.querySelector('#stop').disabled")
    partial = last_answer(page)
    page.click(".msg.bot .act.like")
    page.wait_for_selector(".msg.bot .act.like[aria-pressed='true']")

    with cookie_client(server, context) as http:  # what the server stored
        row = _answer_row(http, chat_id, slow_flow["id"])
    assert row is not None
    assert row["remark"] == "break_answer" and row["liked"] == 1
    assert row["message"] == partial and len(partial) > 0
    full = len("echo(0): hello there") + 200  # at least the padded answer the model would give
    assert len(partial) < full

    page.goto(server.base + "/")  # a reload without the chat in the address
    item = page.wait_for_selector(f".chat-item[data-chat-id='{chat_id}'] .chat-open")
    assert item is not None
    item.click()
    page.wait_for_selector(".msg.human >> text=hello there")
    page.wait_for_selector(".msg.bot .act.like[aria-pressed='true']")
    assert last_answer(page) == partial
    assert page.locator(".msg.bot .stopped").count() == 1

    # Markdown with a code block, for the screenshot and the renderer.
    shown = public_flow(admin, "markdown-demo", model="script", script=[MARKDOWN_ANSWER])
    page.reload()
    start_chat(page, shown["id"])
    ask(page, "show me code")
    page.wait_for_selector(".msg.bot pre.code code >> text=def hello(name):")
    page.wait_for_selector(".msg.bot .md strong >> text=small")
    page.wait_for_selector(".msg.bot .md li >> text=it streams")
    page.wait_for_selector(".msg.bot .actions")
    page.screenshot(path=str(SCREENSHOTS / "chat.png"))


def test_network_cut_mid_answer_completes_after_reconnect_without_doubles(
    server: Server, context: BrowserContext, slow_flow: dict[str, Any]
) -> None:
    page = context.new_page()
    register_in_page(page, server, "offline")
    chat_id = start_chat(page, slow_flow["id"])
    ask(page, "keep talking")
    page.wait_for_function(f"{LAST_ANSWER}.length > 0")

    context.set_offline(True)
    page.wait_for_function(
        "!navigator.onLine && document.querySelector('#status').textContent.startsWith('offline')"
    )
    before = last_answer(page)
    with cookie_client(server, context) as http:  # the server finishes the turn meanwhile
        stored = None
        for _ in range(60 * 5):  # 60 s
            stored = _answer_row(http, chat_id, slow_flow["id"])
            if stored is not None:
                break
            page.wait_for_timeout(200)  # polling the server with a deadline, not ordering
    assert stored is not None, "the turn did not finish on the server while the page was offline"
    assert len(last_answer(page)) < len(stored["message"]), "the cut came too late to test anything"

    context.set_offline(False)
    page.wait_for_function("document.querySelector('#status').textContent === 'connected'")
    page.wait_for_function(f"{LAST_ANSWER}.length >= {len(stored['message'])}")
    final = last_answer(page)
    assert final == stored["message"]  # nothing lost, nothing doubled
    assert final.startswith(before)
    assert page.locator(".msg.bot").count() == 1
    assert page.locator(".msg.human").count() == 1
    page.wait_for_selector(".msg.bot .actions")  # the end frame arrived: the answer has its id


def test_admin_sees_the_session_on_the_dashboard(
    server: Server, browser: Any, context: BrowserContext, slow_flow: dict[str, Any], admin: Account
) -> None:
    chat_page = context.new_page()
    register_in_page(chat_page, server, "watched")
    chat_id = start_chat(chat_page, slow_flow["id"])
    ask(chat_page, "watch me")
    chat_page.wait_for_function(f"{LAST_ANSWER}.length > 0")

    with httpx.Client(base_url=server.base, timeout=30) as anonymous:
        assert anonymous.get("/api/v1/monitor/overview").status_code == 401
    with cookie_client(server, context) as http:  # a user who is not an admin
        assert http.get("/api/v1/monitor/overview").status_code == 403

    ops = browser.new_context(viewport={"width": 1180, "height": 900})
    try:
        page = ops.new_page()
        page.set_default_timeout(30_000)
        page.goto(server.base + "/dashboard")
        page.fill("#login-name", admin.user_name)
        page.fill("#login-password", ADMIN_PASSWORD)
        page.click("#login-button")
        row = page.wait_for_selector(f"tr[data-chat-id='{chat_id}']")
        assert row is not None
        text = row.inner_text()
        assert slow_flow["name"] in text
        page.wait_for_function("Number(document.querySelector('#live').textContent) >= 1")
        page.wait_for_function(
            "document.querySelector('#tokens-chart').childElementCount > 0"
            " && Number(document.querySelector('#tokens-now').textContent) >= 0"
        )
        chat_page.wait_for_function("document.querySelector('#stop').disabled")  # turn done
        turns = "id => document.querySelector(`tr[data-chat-id='${id}']`).children[3].textContent"
        page.wait_for_function(f"id => ({turns})(id) === '1'", arg=chat_id)
        if page.is_visible("#ray-link"):  # Ray's dashboard runs: its address is linked
            assert re.fullmatch(
                r"http://[\w.\-]+:\d+", page.get_attribute("#ray-link", "href") or ""
            )
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    finally:
        ops.close()


def test_phone_sized_screen_keeps_the_chat_usable(
    server: Server, browser: Any, slow_flow: dict[str, Any]
) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True)
    try:
        page = phone.new_page()
        page.set_default_timeout(30_000)
        register_in_page(page, server, "phone")
        page.wait_for_function("document.querySelector('#status').textContent === 'connected'")
        page.wait_for_selector("#menu", state="visible")
        page.wait_for_function(f"{DRAWER}.right <= 0")  # the chat list is a closed drawer
        page.click("#menu")
        page.wait_for_function(f"{DRAWER}.left >= 0")
        start_chat(page, slow_flow["id"])  # opening a chat closes the drawer
        page.wait_for_function(f"{DRAWER}.right <= 0")
        ask(page, "small screen")
        page.wait_for_function(f"{LAST_ANSWER}.length > 0")
        box = page.locator("#question").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        page.screenshot(path=str(SCREENSHOTS / "chat-phone.png"))
    finally:
        phone.close()


def test_assistant_tool_calls_show_as_cards_and_errors_as_messages(
    server: Server, context: BrowserContext, admin: Account
) -> None:
    script = [{"tool": "calculator", "input": "2+2"}, "Four.", {"error": "scripted failure"}]
    body = {
        "name": f"calc-{uuid.uuid4().hex[:4]}",
        "prompt": "Be brief.",
        "model": {"provider": "demo", "model": "script", "script": script},
        "tools": ["calculator"],
        "public": True,
    }
    created = admin.data(admin.post("/api/v1/assistant", body))
    admin.data(admin.patch(f"/api/v1/assistant/{created['id']}", {"status": 2}))
    page = context.new_page()
    register_in_page(page, server, "tools")
    start_chat(page, created["id"])
    ask(page, "what is 2+2?")
    page.wait_for_function(f"{LAST_ANSWER} === 'Four.'")
    card = page.locator("details.tool-card")
    assert card.count() == 1  # start and end of one call are one card
    page.wait_for_selector("details.tool-card.done summary >> text=calculator")
    card.locator("summary").click()
    page.wait_for_selector("details.tool-card[open] .tool-body >> text=2+2")
    assert "4" in card.locator(".tool-body").inner_text()
    ask(page, "and now?")
    error = page.wait_for_selector(".msg.error")
    assert error is not None
    shown = error.inner_text()  # the envelope's message with its detail (the error's class)
    assert "LLM Skill execution error" in shown and "DemoModelError" in shown, shown
    assert "{error}" not in shown
    page.wait_for_function("document.querySelector('#stop').disabled")  # the socket stays usable
    page.click("#clear")
    page.wait_for_selector(".divider >> text=Context cleared")

    page.reload()  # the address names the chat: its history comes back from REST
    page.wait_for_selector(".msg.human >> text=what is 2+2?")
    stored = page.locator("details.tool-card.done")
    assert stored.count() == 1
    assert "calculator" in stored.locator("summary").inner_text()
    assert "4" in (stored.locator(".tool-body").text_content() or "")  # folded: not rendered
    page.wait_for_selector(".divider")
    assert last_answer(page) == "Four."
