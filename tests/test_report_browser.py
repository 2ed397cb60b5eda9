"""neon_xai.report in a real browser: headless Chromium loads the written index.html from
file://, and the dumped DOM must show the page ready, no errors, every image decoded, the
sortable tables present and sorting correctly when clicked; a screenshot must be a real PNG.

A negative control (a copy with a broken image and a throwing script) proves the checks can
fail. Chromium is Debian's ``chromium``; the session fixture installs it with apt-get when it is
missing and the process may (root), and skips with the reason otherwise."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import time
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from neon_xai.report import Report  # noqa: E402

torch.set_num_threads(1)

# if this name were not escaped, it would add a 4th <img> and set data-pwned on <body>
XSS = "<img src=x onerror=\"document.body.dataset.pwned='1'\">"
TEXTS = ["b2", "a10", "a9", "A1"]
VALUES = [2.5, float("nan"), -1.0, 10.0]
CHROMIUM_TIMEOUT = 60


def _install_chromium() -> str:
    """Try apt-get; return why chromium is still missing (empty when it is there)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "chromium is not installed and the tests do not run as root to apt-get it"
    apt = shutil.which("apt-get")
    if apt is None:
        return "chromium is not installed and there is no apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "--no-install-recommends", "chromium"]
    deadline = time.monotonic() + 300
    last = ""
    for command in (install, [apt, "update"], install):
        left = deadline - time.monotonic()
        if left <= 5:
            return f"apt-get ran out of time installing chromium; last output: {last}"
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=left)
        except subprocess.TimeoutExpired:
            return f"{' '.join(command)} timed out after 300 s"
        last = (done.stderr or done.stdout).strip()[-500:]
        if command is install and done.returncode == 0 and shutil.which("chromium"):
            return ""
    return f"apt-get install chromium failed: {last}"


@pytest.fixture(scope="session")
def chromium():
    exe = shutil.which("chromium")
    if exe is None:
        reason = _install_chromium()
        exe = shutil.which("chromium")
        if exe is None:
            pytest.skip(reason or "chromium is not installed")
    return exe


def run_chromium(exe, profile, *args):
    command = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={profile}", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"chromium did not finish in {CHROMIUM_TIMEOUT} s: "
                             f"{' '.join(command)}") from error
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def dump_dom(exe, tmp_path, page):
    out = run_chromium(exe, tmp_path / f"profile-{page.stem}", "--virtual-time-budget=5000",
                       "--dump-dom", page.as_uri())
    assert "<body" in out, f"no DOM dumped for {page}: {out[:500]!r}"
    return Dump(out)


class Dump(HTMLParser):
    """The parts of a dumped DOM the checks read: <body> attributes, #errors text, tables."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.text, self.body, self.errors, self.in_errors = text, None, None, False
        self.tables, self.images, self.header_texts, self.in_th = [], 0, [], False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        elif tag == "pre" and attrs.get("id") == "errors":
            self.errors, self.in_errors = "", True
        elif tag == "table":
            self.tables.append(attrs)
        elif tag == "img":
            self.images += 1
        elif tag == "th":
            self.header_texts.append("")
            self.in_th = True

    def handle_endtag(self, tag):
        if tag == "pre":
            self.in_errors = False
        elif tag == "th":
            self.in_th = False

    def handle_data(self, data):
        if self.in_errors:
            self.errors += data
        if self.in_th:
            self.header_texts[-1] += data


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    rep = Report("Browser check <b>", "3 figures, 2 tables")
    rep.add_text("About", "A report written by tests/test_report_browser.py.")
    rep.add_summary("Summary", "node   op\nfc1    Linear(4 → 5)")
    for i in range(3):
        fig, ax = plt.subplots(figsize=(4, 3))
        if i == 2:
            ax.imshow(rng.normal(size=(8, 8)), cmap="bwr")
        else:
            ax.plot(np.arange(10) ** (i + 1))
        ax.set_title(f"figure {i}")
        rep.add_figure(f"Figure {i}", fig)
    rep.add_table("Mixed", ["text", "value"], [[t, v] for t, v in zip(TEXTS, VALUES)])
    rep.add_relevance_table(["pixel 1", XSS, "pixel 3"], rng.normal(size=(5, 3)),
                            outputs=rng.normal(size=5))
    return rep.write(folder)


def test_report_loads_without_errors_and_every_image_decodes(chromium, report_page, tmp_path):
    dump = dump_dom(chromium, tmp_path, report_page)
    body = dump.body
    assert body is not None
    assert body.get("data-ready") == "1", body
    assert dump.errors == "", f"the page recorded errors: {dump.errors}"
    assert body.get("data-errors", "0") == "0"
    assert (dump.images, body.get("data-images"), body.get("data-images-ok")) == (3, "3", "3")
    assert "data-pwned" not in body                 # the feature name stayed text
    assert XSS in dump.header_texts
    assert [t.get("class") for t in dump.tables] == ["sortable", "sortable"]


# clicks headers in the page and writes the resulting column orders onto <body>
SORT_DRIVER = """
<script>
window.addEventListener("load", function () {
  var table = document.querySelector("table.sortable");
  function column(i) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return r.cells[i].textContent; });
  }
  var th = table.tHead.rows[0].cells, result = {};
  th[1].click(); result.valueAsc = column(1);
  result.valueAscAria = th[1].getAttribute("aria-sort");
  th[1].click(); result.valueDesc = column(1);
  result.valueDescAria = th[1].getAttribute("aria-sort");
  th[0].click(); result.textAsc = column(0); result.textAscValues = column(1);
  result.otherAria = th[1].getAttribute("aria-sort");
  th[0].dispatchEvent(new KeyboardEvent("keydown", {key: "Enter"})); result.textDesc = column(0);
  document.body.dataset.sorted = JSON.stringify(result);
});
</script>
"""


def test_clicking_headers_sorts_the_table(chromium, report_page, tmp_path):
    page = report_page.with_name("sort.html")
    page.write_text(report_page.read_text(encoding="utf-8")
                    .replace("</body>", SORT_DRIVER + "</body>"), encoding="utf-8")
    dump = dump_dom(chromium, tmp_path, page)
    assert dump.errors == "", dump.errors
    result = json.loads(dump.body["data-sorted"])
    # by hand: numbers ascending, NaN last in both directions
    assert result["valueAsc"] == ["-1", "2.5", "10", "NaN"]
    assert result["valueDesc"] == ["10", "2.5", "-1", "NaN"]
    assert (result["valueAscAria"], result["valueDescAria"]) == ("ascending", "descending")
    assert result["otherAria"] is None
    # natural, case-insensitive text order: A1 < a9 < a10 < b2; rows move as a whole
    assert result["textAsc"] == ["A1", "a9", "a10", "b2"]
    assert result["textAscValues"] == ["10", "-1", "NaN", "2.5"]
    assert result["textDesc"] == ["b2", "a10", "a9", "A1"]


BROKEN = """
<img src="data:image/png;base64,iVBORw0KGgoAAAAN" alt="broken">
<script>console.error("boom"); undefinedFunction();</script>
"""


def test_negative_control_errors_and_broken_images_are_seen(chromium, report_page, tmp_path):
    page = report_page.with_name("broken.html")
    page.write_text(report_page.read_text(encoding="utf-8")
                    .replace("<main>", "<main>" + BROKEN), encoding="utf-8")
    dump = dump_dom(chromium, tmp_path, page)
    assert dump.body.get("data-ready") == "1"
    assert (dump.body.get("data-images"), dump.body.get("data-images-ok")) == ("4", "3")
    assert "console.error: boom" in dump.errors
    assert "undefinedFunction" in dump.errors
    assert "failed to load <img>" in dump.errors
    assert int(dump.body["data-errors"]) == 3


def test_screenshot_is_a_real_png(chromium, report_page, tmp_path):
    shot = tmp_path / "report.png"
    run_chromium(chromium, tmp_path / "profile-shot", f"--screenshot={shot}",
                 "--window-size=1200,1600", report_page.as_uri())
    print(f"\nscreenshot of the report: {shot}\nreport: {report_page}")
    assert shot.is_file()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1200, 1600)
    assert len(data) > 10_000
    pixels = mpimg.imread(io.BytesIO(data), format="png")[..., :3]
    # not a blank page: a white background with dark text and coloured figures
    assert pixels.std() > 0.05
    assert (pixels.min(axis=2) < 0.3).mean() > 0.002
