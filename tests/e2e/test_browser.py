"""End to end in a real headless Chromium (Debian's package, driven by Playwright): open the UI,
upload a photo, pick a style, submit, watch the progress, download the result. Screenshots go to
``out/e2e/``. Run with ``make e2e`` (sets E2E=1); plain ``make test`` skips this module."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

if os.environ.get("E2E") != "1":
    pytest.skip("browser test: run `make e2e` (E2E=1)", allow_module_level=True)

from PIL import Image
from playwright.sync_api import expect, sync_playwright

from service.conftest import EXAMPLES, ROOT, Server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = ROOT / "out" / "e2e"
FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]  # + --headless


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("e2e") / "data", "--gallery", str(EXAMPLES), "--threads", "1").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (make e2e does)")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        failed: list[str] = []  # which requests a "Failed to load resource" line was about
        page.on(
            "response",
            lambda r: failed.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None,
        )
        yield page
        context.close()
        # The deliberate bad submission at the end logs its 422 response; nothing else may fail.
        assert [e for e in errors if "status of 422" not in e] == [], (errors, failed)


def test_upload_submit_watch_progress_download(server, page, tmp_path):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(server.url + "/")
    expect(page.locator("#kinds input[value=stylize]")).to_be_attached()
    page.locator("#kinds label", has_text="Style transfer").click()
    expect(page.locator('.gallery-item[data-name="gallery:starry_night.jpg"] img')).to_be_visible()

    # Drag and drop a photo onto the drop zone (a real DataTransfer carrying a File)...
    page.evaluate("""async () => {
        const blob = await (await fetch('/v1/gallery/golden_gate.jpg')).blob();
        const data = new DataTransfer();
        data.items.add(new File([blob], 'dropped.jpg', {type: 'image/jpeg'}));
        document.querySelector('#dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true}));
    }""")
    expect(page.locator("#drop-hint")).to_contain_text("dropped.jpg")
    expect(page.locator("#content-preview")).to_be_visible()

    # ...then pick another with the file chooser; a painting from the gallery; small settings.
    photo = tmp_path / "photo.jpg"
    shutil.copy(EXAMPLES / "tubingen.jpg", photo)
    page.set_input_files("#content-input", str(photo))
    expect(page.locator("#drop-hint")).to_contain_text("photo.jpg")
    page.click('.gallery-item[data-name="gallery:starry_night.jpg"]')
    expect(page.locator('.gallery-item[data-name="gallery:starry_night.jpg"]')).to_have_attribute(
        "aria-selected", "true"
    )
    page.fill("input[name=size]", "96")
    page.fill("input[name=iters]", "40")
    page.select_option("select[name=preserve_color]", "none")
    page.click("#submit")

    # Live progress: the bar moves and a preview appears while the job runs.
    expect(page.locator("#job-panel")).to_be_visible()
    page.wait_for_function(
        "document.querySelector('#progress-text').textContent.includes('step')", timeout=120_000
    )
    expect(page.locator("#preview-img")).to_be_visible(timeout=120_000)
    page.screenshot(path=str(ARTEFACTS / "progress.png"), full_page=True)

    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=300_000)
    expect(page.locator("#download")).to_be_visible()
    expect(page.locator("#history li")).to_have_count(1)
    page.wait_for_function("document.querySelector('#preview-img').complete")
    page.screenshot(path=str(ARTEFACTS / "done.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    saved = ARTEFACTS / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".png"
    with Image.open(saved) as im:
        assert max(im.size) == 96 and im.mode in ("RGB", "RGBA")

    # A bad submission shows the server's message next to the field, nothing crashes.
    page.fill("input[name=size]", "100000")
    page.click("#submit")
    expect(page.locator("input[name=size]")).to_have_class("invalid")
    expect(page.locator("#form-error")).to_contain_text("size")


def test_login_with_a_key_is_a_post_and_an_httponly_session(tmp_path_factory, page):
    """A server with a key: the log-in form POSTs the key (never in a URL), the session cookie is out of
    reach of scripts, the UI's own writes pass the Origin check, and logging out ends the session."""
    import httpx

    key = "e2e key for the browser"
    s = Server(
        tmp_path_factory.mktemp("e2e-key") / "data", "--gallery", str(EXAMPLES), "--threads", "1", api_key=key
    ).start()
    # Cookies are per host, not per port: this server's session cookie replaces the shared server's, so
    # the shared server's session (which owns the jobs the other tests made) is put back afterwards.
    saved = page.context.cookies()
    tab = page.context.new_page()  # its own console: the log-in page is a 401 by design
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        urls: list[str] = []
        tab.on("request", lambda request: urls.append(request.url))
        tab.goto(s.url + "/")
        tab.fill("input[name=api_key]", "wrong")
        tab.click("button")
        expect(tab.locator(".error")).to_contain_text("Wrong API key")
        tab.fill("input[name=api_key]", key)
        tab.click("button")
        expect(tab.locator("#kinds input[value=stylize]")).to_be_attached()
        assert not [u for u in urls if "api_key" in u or "e2e" in u], urls  # the key never went into a URL
        assert tab.evaluate("document.cookie") == ""  # HttpOnly: no script reads the session
        cookie = {c["name"]: c for c in page.context.cookies(s.url)}["impasto_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        expect(tab.locator("#logout")).to_be_visible()
        # The page's own fetch POST carries its Origin and is accepted (a 422 for the empty form, not 403).
        status = tab.evaluate(
            "async () => (await fetch('/v1/jobs', {method: 'POST', body: new FormData()})).status"
        )
        assert status == 422
        tab.click("#logout button")
        expect(tab.locator("input[name=api_key]")).to_be_visible()
        replay = httpx.get(f"{s.url}/v1/jobs", headers={"Cookie": f"impasto_session={cookie['value']}"})
        assert (
            replay.status_code == 401
        )  # the logged-out token is dead on the server, not just in the browser
        assert [e for e in errors if "status of 401" not in e and "status of 422" not in e] == [], errors
    finally:
        tab.close()
        page.context.clear_cookies()
        page.context.add_cookies(saved)
        s.stop()


def test_protect_faces_checkbox_sends_faces_off(server, page, tmp_path):
    page.goto(server.url + "/")
    page.locator("#kinds label", has_text="Style transfer").click()
    box = page.locator("#controls input[name=faces]")
    expect(box).to_be_checked()  # --faces auto is the default, shown as a ticked "Protect faces"
    photo = tmp_path / "portrait.jpg"
    shutil.copy(EXAMPLES / "brad_pitt.jpg", photo)
    page.set_input_files("#content-input", str(photo))
    expect(page.locator("#drop-hint")).to_contain_text("portrait.jpg")
    expect(page.locator('.gallery-item[data-name="gallery:the_scream.jpg"] img')).to_be_visible()
    page.click('.gallery-item[data-name="gallery:the_scream.jpg"]')
    page.fill("input[name=size]", "32")
    page.fill("input[name=iters]", "2")
    box.uncheck()
    with page.expect_response(lambda r: r.url.endswith("/v1/jobs") and r.request.method == "POST") as posted:
        page.click("#submit")
    assert posted.value.status == 202, posted.value.text()
    assert posted.value.json()["params"].get("faces") == "off"


def test_fast_with_a_painting_then_refine(server, page, tmp_path):
    """Any painting through the fast kind, then "Refine (Gatys)" starts a stylize job from its result."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(server.url + "/")
    page.locator("#kinds label", has_text="Fast style network").click()
    expect(page.locator("#style-label")).to_have_text("Painting (optional)")
    photo = tmp_path / "photo.jpg"
    shutil.copy(EXAMPLES / "tubingen.jpg", photo)
    page.set_input_files("#content-input", str(photo))
    page.click('.gallery-item[data-name="gallery:the_scream.jpg"]')
    page.fill("input[name=size]", "96")
    page.click("#submit")
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=120_000)
    expect(page.locator("#refine")).to_be_visible()
    page.screenshot(path=str(ARTEFACTS / "fast-painting.png"), full_page=True)
    fast_title = page.locator("#job-title").text_content()

    page.click("#refine")
    expect(page.locator("#job-title")).to_contain_text("Style transfer", timeout=30_000)
    assert page.locator("#job-title").text_content() != fast_title
    job = page.evaluate("""async () => {
        const ids = JSON.parse(localStorage.getItem('impasto.jobs'));
        return await (await fetch('/v1/jobs/' + ids[0])).json();
    }""")
    assert job["kind"] == "stylize" and job["inputs"] == {"content": 1, "style": 1, "init": 1}
    assert job["params"]["size"] == 96
    page.click("#cancel")
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=60_000)
