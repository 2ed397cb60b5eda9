"""neon_xai.report without a browser: the structure of the written page (one file, inline
everything, data-URI PNGs that decode), escaping of every user string, the sortable-table
markup with exact values, the totals of the relevance and conservation tables against hand
sums, and the validation errors (the ROWS table at the bottom)."""

from __future__ import annotations

import base64
import html
import io
import re
import struct
import zlib
from html.parser import HTMLParser
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from neon_xai.report import Report  # noqa: E402

torch.set_num_threads(1)

EVIL = '<script>alert("x")</script>'
VOID = {"meta", "img", "br", "hr", "input", "link"}


# ---- a tiny DOM from the stdlib parser (independent of the writer) ---------------------------
class Element:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self, tag=None):
        for c in self.children:
            if isinstance(c, Element):
                if tag is None or c.tag == tag:
                    yield c
                yield from c.iter(tag)

    def classes(self):
        return self.attrs.get("class", "").split()


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.node = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.node)
        self.node.children.append(element)
        if tag not in VOID:
            self.node = element

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        node = self.node
        while node is not self.root and node.tag != tag:
            node = node.parent
        assert node is not self.root, f"stray </{tag}>"
        self.node = node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def dom(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    assert builder.node is builder.root, f"unclosed <{builder.node.tag}>"
    return builder.root


def png_header(data: bytes):
    """(width, height, bit depth, colour type) read from IHDR, with the chunk CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]
    return width, height, depth, colour


def png_chunk(data: bytes, kind: bytes) -> bytes | None:
    at = 8
    while at < len(data):
        length, name = struct.unpack(">I4s", data[at:at + 8])
        if name == kind:
            return data[at + 8:at + 8 + length]
        at += 12 + length
    return None


def data_uri_png(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return base64.b64decode(src[len(prefix):], validate=True)


def table_of(root: Element, heading: str) -> Element:
    for section in root.iter("section"):
        if next(section.iter("h2")).text == heading:
            return next(section.iter("table"))
    raise AssertionError(f"no section {heading!r}")


def header(table: Element) -> list[str]:
    return [th.text for th in next(table.iter("thead")).iter("th")]


def body_rows(table: Element) -> list[list[Element]]:
    return [list(tr.iter("td")) for tr in next(table.iter("tbody")).iter("tr")]


def red_figure():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_facecolor((1.0, 0.0, 0.0))
    ax.plot([0, 1], [0, 1], color="k")
    return fig


# ---- the written file ------------------------------------------------------------------------
def test_write_makes_one_self_contained_file(tmp_path):
    rep = Report("Demo", "sub")
    rep.add_text("About", "text").add_figure("Fig", red_figure())
    rep.add_table("Tab", ["a", "b"], [[1, 2.5]])
    out = rep.write(tmp_path / "deep" / "report")
    assert out == (tmp_path / "deep" / "report" / "index.html").resolve() and out.is_absolute()
    assert sorted(p.name for p in out.parent.iterdir()) == ["index.html"]
    text = out.read_text(encoding="utf-8")
    assert text == rep.render()
    root = dom(text)
    # nothing leaves the file: no <link>, no script src, every src a data URI, links in-page
    assert list(root.iter("link")) == []
    assert all("src" not in s.attrs for s in root.iter("script"))
    assert [i.attrs["src"][:5] for i in root.iter("img")] == ["data:"]
    assert all(a.attrs["href"].startswith("#") for a in root.iter("a"))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    csp = [m.attrs["content"] for m in root.iter("meta")
           if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and "default-src 'none'" in csp[0] and "img-src data:" in csp[0]
    assert [s.tag for s in root.iter("style")] == ["style"]
    # the state hooks the browser test reads
    errors = [p for p in root.iter("pre") if p.attrs.get("id") == "errors"]
    assert len(errors) == 1 and "hidden" in errors[0].attrs and errors[0].text == ""
    js = "".join(s.text for s in root.iter("script"))
    for hook in ('dataset.ready = "1"', "window.onerror", "console.error =",
                 "dataset.imagesOk", "dataset.images ="):
        assert hook in js
    # sections in order, each linked from the navigation bar
    headings = [h.text for h in root.iter("h2")]
    assert headings == ["About", "Fig", "Tab"]
    nav = next(root.iter("nav"))
    assert [a.text for a in nav.iter("a")] == headings
    ids = [s.attrs["id"] for s in root.iter("section")]
    assert [a.attrs["href"] for a in nav.iter("a")] == ["#" + i for i in ids]
    assert next(root.iter("title")).text == "Demo" and next(root.iter("h1")).text == "Demo"


def test_write_overwrites_and_refuses_a_file_path(tmp_path):
    rep = Report("A")
    first = rep.write(tmp_path)
    rep.add_text("Later", "more")
    assert rep.write(tmp_path) == first and "Later" in first.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="folder"):
        rep.write(tmp_path / "report.html")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        rep.write(tmp_path / "plain")


def test_empty_report_renders():
    root = dom(Report("Only a title").render())
    assert list(root.iter("section")) == [] and list(root.iter("nav")) == []


# ---- figures ---------------------------------------------------------------------------------
def test_figure_is_a_110_dpi_png_that_decodes_and_the_figure_is_closed():
    fig = red_figure()
    number = fig.number
    rep = Report("F").add_figure("Red axes", fig)
    assert not plt.fignum_exists(number)
    img = next(dom(rep.render()).iter("img"))
    data = data_uri_png(img.attrs["src"])
    width, height, depth, _ = png_header(data)
    assert (img.attrs["width"], img.attrs["height"]) == (str(width), str(height))
    assert img.attrs["alt"] == "Red axes"
    # 4 x 3 inches at 110 dpi, trimmed by bbox_inches="tight": at most 440 x 330 pixels
    assert 0.6 * 440 < width <= 440 and 0.6 * 330 < height <= 330
    phys = png_chunk(data, b"pHYs")
    assert phys is not None and struct.unpack(">IIB", phys) == (4331, 4331, 1)  # 110 / 0.0254
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (height, width) and depth == 8
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 2] < 0.1)
    assert red.mean() > 0.3                  # the red axes fill most of the picture


def test_figure_without_pyplot_is_rendered():
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1])
    data = data_uri_png(next(dom(Report("F").add_figure("c", fig).render()).iter("img"))
                        .attrs["src"])
    width, height, _, _ = png_header(data)
    assert 100 < width < 330 and 100 < height < 330    # 2 x 2 inches at 110 dpi, trimmed


def test_png_bytes_and_path_are_embedded_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.random((5, 7, 3))
    path = tmp_path / "p.png"
    mpimg.imsave(path, pixels)
    raw = path.read_bytes()
    rep = Report("P").add_figure("from path", path).add_figure("from str", str(path))
    rep.add_figure("from bytes", raw).add_figure("from bytearray", bytearray(raw))
    imgs = list(dom(rep.render()).iter("img"))
    assert len(imgs) == 4
    for img in imgs:
        data = data_uri_png(img.attrs["src"])
        assert data == raw
        assert png_header(data)[:2] == (7, 5)
        back = mpimg.imread(io.BytesIO(data), format="png")[..., :3]
        np.testing.assert_allclose(back, pixels, atol=1 / 255)


# ---- escaping --------------------------------------------------------------------------------
def test_every_user_string_is_escaped():
    rep = Report(EVIL, EVIL)
    rep.add_text(EVIL, EVIL).add_summary(EVIL, EVIL)
    rep.add_figure('cap " onerror="alert(1)', red_figure())
    rep.add_table(EVIL, [EVIL, "v"], [[EVIL, 1.0]], note=EVIL)
    rep.add_relevance_table([EVIL, "b"], np.ones((1, 2)), sample_ids=[EVIL])
    rep.add_conservation([dict(node=EVIL, rule=EVIL, relevance_in=1.0, relevance_out=1.0,
                               absorbed=0.0)])
    text = rep.render()
    assert EVIL not in text
    assert text.count("<script>") == 2                  # the page's own two scripts
    root = dom(text)
    assert len(list(root.iter("script"))) == 2
    # the parsed text is the original string: escaped, not dropped
    shown = [t for t in (e.text for e in root.iter()) if t == EVIL]
    assert len(shown) >= 14
    img = next(root.iter("img"))
    assert img.attrs["alt"] == 'cap " onerror="alert(1)' and "onerror" not in img.attrs
    assert html.escape(EVIL) in text


def test_text_paragraphs_and_summary_whitespace():
    rep = Report("T").add_text("P", "one\n\ntwo\nlines\n\n\n  three  ")
    rep.add_summary("S", "a    b\n  c\td\n")
    root = dom(rep.render())
    paragraphs = [p for p in root.iter("p") if not p.classes()]
    assert [p.text.replace("\n", "") for p in paragraphs] == ["one", "twolines", "three"]
    assert len(list(paragraphs[1].iter("br"))) == 1
    pre = [p for p in root.iter("pre") if "summary" in p.classes()]
    assert [p.text for p in pre] == ["a    b\n  c\td\n"]


# ---- tables ----------------------------------------------------------------------------------
def test_table_cells_values_and_sortable_markup():
    rows = [["a10", 1234.5678, 7, float("nan"), None],
            ["a9", -0.000123456, -3, float("inf"), True],
            ["b", np.float32(2.5), np.int64(12345678901), -float("inf"), torch.tensor([0.25])]]
    rep = Report("T").add_table("Tab", ["name", "x", "n", "odd", "misc"], rows, note="a note")
    rep.add_table("Plain", ["x"], [[1.0]], sortable=False, number_format="{:.2f}")
    root = dom(rep.render())
    table = table_of(root, "Tab")
    assert table.classes() == ["sortable"] and header(table) == ["name", "x", "n", "odd", "misc"]
    cells = body_rows(table)
    assert len(cells) == 3 and all(len(r) == 5 for r in cells)
    assert [c.text for c in cells[0]] == ["a10", "1235", "7", "NaN", ""]
    assert [c.text for c in cells[1]] == ["a9", "-0.0001235", "-3", "inf", "True"]
    assert [c.text for c in cells[2]] == ["b", "2.5", "12345678901", "-inf", "0.25"]
    # numbers carry their exact value for sorting; text does not
    values = [[c.attrs.get("data-value") for c in r] for r in cells]
    assert values[0] == [None, "1234.5678", "7", "NaN", None]
    assert values[1] == [None, "-0.000123456", "-3", "Infinity", None]
    assert values[2] == [None, "2.5", "12345678901", "-Infinity", "0.25"]
    assert float(values[1][1]) == -0.000123456
    assert all("num" in c.classes() for c in cells[0][1:4])
    plain = table_of(root, "Plain")
    assert plain.classes() == [] and body_rows(plain)[0][0].text == "1.00"
    assert any(p.text == "a note" for p in root.iter("p") if "note" in p.classes())
    assert len({t.attrs["id"] for t in root.iter("table")}) == 2


def test_table_accepts_a_2d_array_and_zero_rows():
    root = dom(Report("T").add_table("A", ["p", "q"], np.array([[1.0, 2.0], [3.0, 4.0]]))
               .add_table("E", ["p"], []).render())
    assert [[c.text for c in r] for r in body_rows(table_of(root, "A"))] == [["1", "2"],
                                                                             ["3", "4"]]
    assert body_rows(table_of(root, "E")) == []


def test_relevance_table_columns_and_sums_by_hand():
    relevance = torch.tensor([[1.0, 2.0, 0.5], [3.0, -4.0, 0.0]], dtype=torch.float64)
    outputs = np.array([3.0, -1.5])
    rep = Report("R").add_relevance_table(["a", "b", "c"], relevance, sample_ids=["s0", 17],
                                          outputs=outputs)
    root = dom(rep.render())
    table = table_of(root, "Relevance per sample")
    assert table.classes() == ["sortable"]
    assert header(table) == ["sample", "f(x)", "ΣR", "a", "b", "c"]
    cells = body_rows(table)
    assert [c.text for c in cells[0]] == ["s0", "3", "3.5", "1", "2", "0.5"]
    assert [c.text for c in cells[1]] == ["17", "-1.5", "-1", "3", "-4", "0"]
    # 3.5 - 3 = 0.5 and -1 - (-1.5) = 0.5: the largest gap is 0.5
    note = [p.text for p in root.iter("p") if "note" in p.classes()][0]
    assert "2 sample(s) × 3 feature(s)" in note and "= 0.5." in note
    # without outputs: no f(x) column, ids default to 0..N-1
    root = dom(Report("R").add_relevance_table(["a"], np.array([[np.nan], [2.0]]),
                                               heading="H").render())
    table = table_of(root, "H")
    assert header(table) == ["sample", "ΣR", "a"]
    assert [[c.text for c in r] for r in body_rows(table)] == [["0", "NaN", "NaN"],
                                                               ["1", "2", "2"]]


def test_conservation_table_totals_by_hand():
    table = [dict(node="out", rule="Epsilon(0.25)", relevance_in=torch.tensor([1.0, 2.0]),
                  relevance_out=torch.tensor([0.75, 1.5]), absorbed=torch.tensor([0.25, 0.5])),
             dict(node="fc1", rule="ZPlus()", relevance_in=np.array([2.25]),
                  relevance_out=2.0, absorbed=np.float64(0.25))]
    root = dom(Report("C").add_conservation(table).render())
    html_table = table_of(root, "Conservation")
    assert header(html_table) == ["node", "rule", "relevance in", "relevance out", "absorbed"]
    assert [[c.text for c in r] for r in body_rows(html_table)] == [
        ["out", "Epsilon(0.25)", "3", "2.25", "0.75"], ["fc1", "ZPlus()", "2.25", "2", "0.25"]]
    foot = [c.text for c in next(html_table.iter("tfoot")).iter("td")]
    assert foot == ["Σ over nodes", "", "", "", "1"]
    note = [p.text for p in root.iter("p") if "note" in p.classes()][0]
    assert "first node (out): 3;" in note and "(Σ over nodes): 1;" in note
    assert "should receive 2." in note
    # an object with a .table (an lrp.Explanation) is read through it
    again = dom(Report("C").add_conservation(SimpleNamespace(table=table)).render())
    assert [[c.text for c in r] for r in body_rows(table_of(again, "Conservation"))] == \
        [[c.text for c in r] for r in body_rows(html_table)]


def test_conservation_of_a_real_lrp_explanation():
    from torch import nn

    import lrp
    import neon

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    graph = neon.neuralize(net, x[:1])
    explanation = lrp.explain(graph, x, composite=lrp.rules.Epsilon(0.25),
                              return_all=True)
    root = dom(Report("C").add_conservation(explanation).render())
    html_table = table_of(root, "Conservation")
    assert [r[0].text for r in body_rows(html_table)] == [row["node"] for row in
                                                          explanation.table]
    absorbed = float(list(next(html_table.iter("tfoot")).iter("td"))[-1].attrs["data-value"])
    # balance: f summed over the batch - relevance reaching the input = Σ absorbed
    f = float(net(x).gather(1, net(x).argmax(1, keepdim=True)).sum())
    at_input = float(torch.as_tensor(explanation.relevance).sum())
    assert absorbed == pytest.approx(f - at_input, rel=1e-9, abs=1e-12)
    first_in = float(body_rows(html_table)[0][2].attrs["data-value"])
    assert first_in == pytest.approx(f, rel=1e-12)


# ---- bad input ---------------------------------------------------------------------------
def _rep():
    return Report("R")


# (entry point, what is wrong, call, exception, words the message must contain)
ROWS = [
    ("neon_xai.report.Report", "title not a str", lambda: Report(3), TypeError, "title"),
    ("neon_xai.report.Report", "empty title", lambda: Report("  "), ValueError, "title"),
    ("neon_xai.report.Report", "subtitle not a str", lambda: Report("a", None), TypeError,
     "subtitle"),
    ("Report.add_text", "heading empty", lambda: _rep().add_text("", "t"), ValueError,
     "heading"),
    ("Report.add_text", "text not a str", lambda: _rep().add_text("h", ["t"]), TypeError,
     "text"),
    ("Report.add_summary", "text not a str", lambda: _rep().add_summary("h", 3), TypeError,
     "text"),
    ("Report.add_figure", "figure an array", lambda: _rep().add_figure("c", np.zeros((2, 2))),
     TypeError, "matplotlib Figure"),
    ("Report.add_figure", "figure an Axes", lambda: _rep().add_figure("c", Figure().add_subplot()),
     TypeError, "pass its .figure"),
    ("Report.add_figure", "bytes not a PNG", lambda: _rep().add_figure("c", b"GIF89a" * 10),
     ValueError, "not a PNG"),
    ("Report.add_figure", "missing file", lambda: _rep().add_figure("c", "/no/such/file.png"),
     FileNotFoundError, "not an existing file"),
    ("Report.add_figure", "empty caption", lambda: _rep().add_figure("", b""), ValueError,
     "caption"),
    ("Report.add_table", "row of wrong length",
     lambda: _rep().add_table("t", ["a", "b"], [[1, 2], [3]]), ValueError,
     "rows[1] has 1 cells but there are 2 columns"),
    ("Report.add_table", "row not a sequence", lambda: _rep().add_table("t", ["a"], [5]),
     TypeError, "rows[0]"),
    ("Report.add_table", "row a str", lambda: _rep().add_table("t", ["a"], ["x"]),
     TypeError, "rows[0]"),
    ("Report.add_table", "columns a str", lambda: _rep().add_table("t", "ab", []), TypeError,
     "columns"),
    ("Report.add_table", "no columns", lambda: _rep().add_table("t", [], []), ValueError,
     "columns is empty"),
    ("Report.add_table", "column name not a str", lambda: _rep().add_table("t", [1], [[1]]),
     TypeError, "columns[0]"),
    ("Report.add_table", "cell an array", lambda: _rep().add_table("t", ["a"], [[np.ones(3)]]),
     ValueError, "rows[0][0]"),
    ("Report.add_table", "cell of unknown type", lambda: _rep().add_table("t", ["a"], [[{}]]),
     TypeError, "rows[0][0]"),
    ("Report.add_table", "cell complex", lambda: _rep().add_table("t", ["a"], [[1j]]),
     TypeError, "rows[0][0]"),
    ("Report.add_table", "number_format without field",
     lambda: _rep().add_table("t", ["a"], [[1.0]], number_format="x"), ValueError,
     "number_format"),
    ("Report.add_table", "number_format broken",
     lambda: _rep().add_table("t", ["a"], [[1.0]], number_format="{:.4q}"), ValueError,
     "number_format"),
    ("Report.add_table", "number_format not a str",
     lambda: _rep().add_table("t", ["a"], [[1.0]], number_format=4), TypeError,
     "number_format"),
    ("Report.add_table", "sortable not a bool",
     lambda: _rep().add_table("t", ["a"], [[1.0]], sortable="yes"), TypeError, "sortable"),
    ("Report.add_relevance_table", "relevance 1-d",
     lambda: _rep().add_relevance_table(["a"], np.ones(3)), ValueError, "2-d"),
    ("Report.add_relevance_table", "relevance 3-d",
     lambda: _rep().add_relevance_table(["a"], np.ones((2, 1, 1))), ValueError, "2-d"),
    ("Report.add_relevance_table", "relevance empty",
     lambda: _rep().add_relevance_table([], np.ones((0, 0))), ValueError, "at least one"),
    ("Report.add_relevance_table", "relevance not numeric",
     lambda: _rep().add_relevance_table(["a"], [["x"]]), TypeError, "numeric"),
    ("Report.add_relevance_table", "too few names",
     lambda: _rep().add_relevance_table(["a"], np.ones((2, 3))), ValueError,
     "1 feature_names for relevance with 3 features"),
    ("Report.add_relevance_table", "names a str",
     lambda: _rep().add_relevance_table("abc", np.ones((2, 3))), TypeError, "feature_names"),
    ("Report.add_relevance_table", "name not a str",
     lambda: _rep().add_relevance_table([1], np.ones((2, 1))), TypeError, "feature_names[0]"),
    ("Report.add_relevance_table", "sample_ids count",
     lambda: _rep().add_relevance_table(["a"], np.ones((2, 1)), sample_ids=[1]), ValueError,
     "1 sample_ids for 2 samples"),
    ("Report.add_relevance_table", "sample id a float",
     lambda: _rep().add_relevance_table(["a"], np.ones((1, 1)), sample_ids=[0.5]), TypeError,
     "sample_ids[0]"),
    ("Report.add_relevance_table", "outputs count",
     lambda: _rep().add_relevance_table(["a"], np.ones((2, 1)), outputs=np.ones(3)),
     ValueError, "outputs must have one value per sample"),
    ("Report.add_relevance_table", "outputs 2-d",
     lambda: _rep().add_relevance_table(["a"], np.ones((2, 1)), outputs=np.ones((2, 1))),
     ValueError, "shape (2,)"),
    ("Report.add_conservation", "empty table", lambda: _rep().add_conservation([]),
     ValueError, "empty"),
    ("Report.add_conservation", "explanation without table",
     lambda: _rep().add_conservation(SimpleNamespace(table=None)), ValueError,
     "return_all=True"),
    ("Report.add_conservation", "row missing a key",
     lambda: _rep().add_conservation([dict(node="a", rule="r", relevance_in=1.0,
                                           relevance_out=1.0)]), ValueError,
     "table[0] lacks the key(s) ['absorbed']"),
    ("Report.add_conservation", "row not a dict", lambda: _rep().add_conservation([1]),
     TypeError, "table[0]"),
    ("Report.add_conservation", "table a dict", lambda: _rep().add_conservation({}),
     TypeError, "list of dicts"),
    ("Report.add_conservation", "value not numeric",
     lambda: _rep().add_conservation([dict(node="a", rule="r", relevance_in="x",
                                           relevance_out=1.0, absorbed=0.0)]), TypeError,
     "relevance_in"),
    ("Report.write", "path not a path", lambda: _rep().write(3), TypeError, "path"),
]


@pytest.mark.parametrize("entry, what, call, error, words", ROWS,
                         ids=[f"{e}-{w}" for e, w, *_ in ROWS])
def test_bad_input_is_refused_with_a_message(entry, what, call, error, words):
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value), f"{entry} ({what}): {caught.value}"
