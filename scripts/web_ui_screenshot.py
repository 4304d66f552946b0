"""Screenshot of the browser UI for the README: start `impasto serve` on a free port with a scratch data
directory, paint one small picture through the page in headless Chromium (Debian's package, driven by
Playwright), and save docs/web-ui.jpg.

    .venv/bin/python scripts/web_ui_screenshot.py      # needs `make e2e` done once (playwright, chromium)
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _server import running_server  # noqa: E402

OUT = ROOT / "docs" / "web-ui.jpg"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        gallery = ("--gallery", str(ROOT / "examples"), "--threads", "1")
        with running_server(Path(tmp) / "data", *gallery, timeout=60) as (url, _):
            with sync_playwright() as p:
                context = p.chromium.launch_persistent_context(
                    f"{tmp}/profile",
                    executable_path=CHROMIUM,
                    headless=True,
                    args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
                    viewport={"width": 1200, "height": 860},
                )
                page = context.new_page()
                page.goto(url)
                page.locator("#kinds label", has_text="Style transfer").click()
                page.set_input_files("#content-input", str(ROOT / "examples" / "tubingen.jpg"))
                page.click('.gallery-item[data-name="gallery:starry_night.jpg"]')
                page.fill("input[name=size]", "200")
                page.fill("input[name=iters]", "50")
                page.click("#submit")
                expect(page.locator("#job-state")).to_have_text("succeeded", timeout=900_000)
                page.wait_for_function("document.querySelector('#preview-img').complete")
                shot = page.screenshot(full_page=True)
                context.close()
    im = Image.open(io.BytesIO(shot)).convert("RGB")
    im.thumbnail((1000, 1000), Image.Resampling.LANCZOS)
    OUT.parent.mkdir(exist_ok=True)
    im.save(OUT, quality=82, optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
