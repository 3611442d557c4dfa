"""Open report.html in headless Chromium: it renders (non-blank, plots decoded), has its sections, logs no errors.

Needs the `chromium` binary (Debian: `apt-get install -y --no-install-recommends chromium`); skipped without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from xstilts.analysis.report import build_report

FIXTURE = Path(__file__).parent / "fixtures" / "analysis"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECTIONS = [
    "1. Results by intermediate setting",
    "2. Gains per target and language",
    "3. Model comparison",
    "4. Uncertainty and significance",
    "5. Gains by language group",
    "6. Retrieval targets: layer used",
]
# Chromium writes page console messages to stderr as "...:INFO:CONSOLE:<line>] ..." under --enable-logging=stderr.
CONSOLE_LINE = re.compile(r":CONSOLE[:(]|Failed to load resource|net::ERR_")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (Debian: apt-get install -y --no-install-recommends chromium)",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser")
    build_report([FIXTURE], out)
    return out / "report.html"


def test_dom_has_sections_images_and_no_console_errors(report_html, tmp_path):
    run = _chromium(tmp_path, "--dump-dom", report_html.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in dom
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', dom)) == 5
    console = [line for line in run.stderr.splitlines() if CONSOLE_LINE.search(line)]
    assert console == []


def test_screenshot_is_not_blank_and_shows_the_heatmap(report_html, tmp_path):
    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", report_html.as_uri())
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = Image.open(shot).convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables and plots: far from one colour
    # The first heatmap (xlm-roberta-base, xnli; gains up to +5.5) is within the window: strong blue cells
    # only appear when the inline PNG was decoded and drawn.
    deep_blue = sum(n for n, (r, g, b) in colours if b > 90 and b > r + 60 and b > g + 20)
    assert deep_blue > 1000
    console = [line for line in run.stderr.splitlines() if CONSOLE_LINE.search(line)]
    assert console == []
