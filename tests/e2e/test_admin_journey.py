"""An administrator's journey with a second person at another browser: the admin adds a
clerk, the clerk's first login forces a new password, the admin deactivates the clerk and
the clerk's open browser session is sent to the login page at its next click."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from archive.audit import Actor
from archive.auth.accounts import create_user
from tests.e2e.conftest import Seeded

pytestmark = pytest.mark.e2e

ADMIN = "admin-e2e"
ADMIN_PASSWORD = "granite willow ferry compass"
NEW_CLERK = "clerk-e2e"
NEW_CLERK_NAME = "Casey Filer"
NEW_CLERK_PASSWORD = "lantern orbit velvet quarry"


@pytest.fixture(scope="module")
def admin(live_archive: Seeded) -> str:
    ext = live_archive.app.extensions["chartvault"]
    with ext.db.transaction() as session:
        create_user(session, Actor("test"), ADMIN, "admin", password=ADMIN_PASSWORD,
                    must_change_password=False)
    return ADMIN


class Browsers:
    """Separate browser contexts (cookie jars) for the people at their own computers."""

    def __init__(self, browser: Browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.contexts: list = []
        self.csp_violations: list[str] = []

    def open(self) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1280, "height": 900}
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        # Everything must work under the app's CSP (no inline scripts, styles or handlers).
        page.on(
            "console",
            lambda message: (
                self.csp_violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsers(browser: Browser, live_archive: Seeded) -> Iterator[Browsers]:
    opened = Browsers(browser, live_archive.base_url)
    try:
        yield opened
    finally:
        opened.close()


def submit_login(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def user_row(page: Page, username: str) -> Locator:
    return page.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=username, exact=True)
    )


def expect_note(page: Page, text: str) -> None:
    """A flashed note says this (pages may hold other live regions, e.g. the MRN lookup's)."""
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def expect_listed(admin_page: Page, username: str, state: str, open_sessions: int) -> None:
    """The admin's users list shows the account in this state (cells after the username:
    name, role, state, last login, open sessions, live tokens)."""
    admin_page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(admin_page.get_by_role("heading", level=1)).to_have_text("Users")
    cells = user_row(admin_page, username).get_by_role("cell")
    expect(cells.nth(1)).to_have_text("clerk")
    expect(cells.nth(2)).to_have_text(state)
    expect(cells.nth(4)).to_have_text(str(open_sessions))


def test_admin_adds_a_clerk_who_must_change_the_password_then_deactivation_ends_their_session(
    browsers: Browsers, admin: str
) -> None:
    admin_page, clerk_page = browsers.open(), browsers.open()

    # The admin logs in and adds the clerk.
    submit_login(admin_page, admin, ADMIN_PASSWORD)
    expect(admin_page.get_by_title("Your role")).to_contain_text("admin")
    admin_page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    add_form = admin_page.get_by_role("region", name="Add a user")
    add_form.get_by_label("Username").fill(NEW_CLERK)
    add_form.get_by_label("Full name").fill(NEW_CLERK_NAME)
    add_form.get_by_label("Role").select_option("clerk")
    add_form.get_by_role("button", name="Add user").click()
    expect(admin_page.get_by_role("heading", level=1)).to_have_text(f"{NEW_CLERK} was added")
    secret = admin_page.locator("code#secret")
    expect(secret).to_have_text(re.compile(r"\S{12,}"))
    one_time_password = secret.inner_text().strip()
    expect_listed(admin_page, NEW_CLERK, "must change password", open_sessions=0)

    # At another computer the clerk logs in with it and must choose a password first.
    submit_login(clerk_page, NEW_CLERK, one_time_password)
    expect(clerk_page).to_have_url(re.compile(r"/account/password$"))
    expect(clerk_page.get_by_role("heading", level=1)).to_have_text("Change your password")
    expect_note(clerk_page, "Choose your own password")
    # No other page until then: a typed address and a menu link both come back here.
    clerk_page.goto("/upload")
    expect(clerk_page).to_have_url(re.compile(r"/account/password$"))
    clerk_page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    expect(clerk_page).to_have_url(re.compile(r"/account/password$"))
    expect(clerk_page.get_by_role("heading", level=1)).to_have_text("Change your password")

    clerk_page.get_by_label("Current password").fill(one_time_password)
    clerk_page.get_by_label("New password", exact=True).fill(NEW_CLERK_PASSWORD)
    clerk_page.get_by_label("New password again").fill(NEW_CLERK_PASSWORD)
    clerk_page.get_by_role("button", name="Change password").click()
    expect_note(clerk_page, "Your password was changed")
    expect(clerk_page).not_to_have_url(re.compile(r"/account/password"))
    banner = clerk_page.get_by_role("banner")
    expect(banner).to_contain_text(NEW_CLERK_NAME)
    expect(clerk_page.get_by_title("Your role")).to_contain_text("clerk")
    clerk_nav = clerk_page.get_by_role("navigation", name="Main")
    expect(clerk_nav.get_by_role("link", name="Upload")).to_be_visible()
    expect(clerk_nav.get_by_role("link", name="Users")).to_have_count(0)
    expect_listed(admin_page, NEW_CLERK, "active", open_sessions=1)

    # The admin deactivates the clerk, whose page is still open at the other computer.
    user_row(admin_page, NEW_CLERK).get_by_role("link", name=NEW_CLERK).click()
    expect(admin_page.locator("#account-state")).to_have_text("active")
    admin_page.get_by_role("button", name="Deactivate").click()
    expect_note(admin_page, f"{NEW_CLERK} is deactivated")
    expect(admin_page.locator("#account-state")).to_have_text("deactivated")
    expect(admin_page.get_by_role("button", name="Reactivate")).to_be_visible()
    expect(admin_page.get_by_role("button", name="Deactivate")).to_have_count(0)
    expect_listed(admin_page, NEW_CLERK, "deactivated", open_sessions=0)

    # The clerk's next click lands on the login page, not on the upload form.
    clerk_nav.get_by_role("link", name="Upload").click()
    expect(clerk_page).to_have_url(re.compile(r"/login(\?|$)"))
    expect(clerk_page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(clerk_page.get_by_role("navigation", name="Main")).to_have_count(0)
    # And the new password opens nothing: the same words as for any wrong login.
    submit_login(clerk_page, NEW_CLERK, NEW_CLERK_PASSWORD)
    expect(clerk_page.get_by_role("alert")).to_contain_text("Wrong username or password")
    expect(clerk_page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(clerk_page.get_by_role("navigation", name="Main")).to_have_count(0)

    assert browsers.csp_violations == []
