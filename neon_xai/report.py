"""One self-contained HTML report: ``index.html`` with everything inline.

A :class:`Report` collects sections (text, preformatted summaries, figures, tables) and
:meth:`Report.write` renders them into a single ``index.html`` that needs no network and no
other file: the CSS and the JavaScript are inline and every figure is embedded as a base64
``data:image/png`` URI. A Content-Security-Policy in the page forbids any other source
(``default-src 'none'``), so a report that renders is a report that is complete.

Tables are sortable by clicking (or pressing Enter on) a header: numeric cells sort by their
exact value (kept in ``data-value``, independent of the displayed precision), text cells in
natural order ("a9" before "a10"); a second click reverses. Within a column, numbers come
first, then text, then NaN, then empty cells, in both directions.

For automated checks the page records its own state: after the ``load`` event the ``<body>``
carries ``data-ready="1"``, ``data-images`` (the number of ``<img>``) and ``data-images-ok``
(those with ``complete && naturalWidth > 0``); ``window.onerror``, failed resource loads,
policy violations, unhandled promise rejections and ``console.error`` calls are appended to
the hidden ``<pre id="errors">`` (and counted in ``data-errors``), so a dumped DOM tells
whether the page worked.

Everything the caller gives (titles, headings, text, cell values, feature names) is
HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["Report"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_DPI = 110

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")

_CSS = """
:root { --fg: #1d2330; --muted: #5b6474; --line: #d8dce3; --band: #f4f6f9; --accent: #2f5d9e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: #fff; }
header { padding: 1.4rem 2rem 1rem; border-bottom: 1px solid var(--line); background: var(--band); }
h1 { margin: 0; font-size: 1.6rem; }
.subtitle { margin: .3rem 0 0; color: var(--muted); }
nav { padding: .6rem 2rem; border-bottom: 1px solid var(--line); font-size: .9rem; }
nav a { color: var(--accent); text-decoration: none; margin-right: 1.2rem; white-space: nowrap; }
main { padding: 0 2rem 2rem; max-width: 1400px; }
section { margin-top: 1.6rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
pre.summary { background: var(--band); border: 1px solid var(--line); padding: .8rem;
              overflow-x: auto; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .88rem; }
th, td { border: 1px solid var(--line); padding: .25rem .55rem; }
thead th { background: var(--band); text-align: left; white-space: nowrap; }
tfoot td { font-weight: 600; background: var(--band); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th::after { content: " \\2195"; color: #aab; }
table.sortable thead th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--accent); }
table.sortable thead th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--accent); }
.note { color: var(--muted); font-size: .9rem; }
tbody tr:nth-child(even) { background: #fafbfc; }
"""

# Runs first (in <head>): records every error the page meets.
_ERROR_JS = """
(function () {
  var errors = [];
  function show() {
    var pre = document.getElementById("errors");
    if (pre) { pre.textContent = errors.join("\\n"); }
    if (document.body) { document.body.dataset.errors = String(errors.length); }
  }
  function record(message) { errors.push(String(message)); show(); }
  window.__report = { errors: errors, show: show, record: record };
  window.onerror = function (message, source, line, column) {
    record("error: " + message + " (" + source + ":" + line + ":" + column + ")");
  };
  window.addEventListener("error", function (event) {
    var t = event.target;
    if (t && t !== window && t.tagName) {
      record("failed to load <" + t.tagName.toLowerCase() + ">");
    }
  }, true);
  window.addEventListener("unhandledrejection", function (event) {
    record("unhandled rejection: " + event.reason);
  });
  document.addEventListener("securitypolicyviolation", function (event) {
    record("blocked by the page's policy: " + event.violatedDirective + " " + event.blockedURI);
  });
  var original = console.error;
  console.error = function () {
    record("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
})();
"""

# Runs last (end of <body>): sortable tables, then the ready flags on load.
_PAGE_JS = """
(function () {
  function key(cell) {
    if (!cell) { return [3, ""]; }
    var value = cell.getAttribute("data-value");
    if (value !== null) {
      var n = Number(value);
      return isNaN(n) ? [2, 0] : [0, n];
    }
    var text = cell.textContent.trim();
    return text === "" ? [3, ""] : [1, text];
  }
  function compare(a, b, sign) {
    if (a[0] !== b[0]) { return a[0] - b[0]; }
    if (a[0] === 0) { return sign * (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0); }
    if (a[0] === 1) {
      return sign * a[1].localeCompare(b[1], undefined, {numeric: true, sensitivity: "base"});
    }
    return 0;
  }
  function sortBy(table, th, column) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var sign = ascending ? 1 : -1;
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
        return {row: row, key: key(row.cells[column]), i: i};
      });
      rows.sort(function (a, b) { return compare(a.key, b.key, sign) || a.i - b.i; });
      rows.forEach(function (r) { body.appendChild(r.row); });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.tabIndex = 0;
      th.title = "click to sort";
      th.addEventListener("click", function () { sortBy(table, th, column); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, th, column);
        }
      });
    });
  });
  window.addEventListener("load", function () {
    var images = document.images, ok = 0;
    for (var i = 0; i < images.length; i++) {
      if (images[i].complete && images[i].naturalWidth > 0) { ok++; }
    }
    document.body.dataset.images = String(images.length);
    document.body.dataset.imagesOk = String(ok);
    window.__report.show();
    document.body.dataset.ready = "1";
  });
})();
"""


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _check_text(value, name: str, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise TypeError(f"Report: {name} must be a str, got {type(value).__name__}")
    if not empty and not value.strip():
        raise ValueError(f"Report: {name} must not be empty")
    return value


def _png_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the IHDR chunk of PNG bytes; ValueError if they are not a PNG."""
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError(f"Report.add_figure: {name} is not a PNG image (no PNG signature "
                         "and IHDR header); pass a matplotlib Figure, PNG bytes or the path "
                         "of a .png file")
    width, height = struct.unpack(">II", data[16:24])
    if zlib.crc32(data[12:29]) != struct.unpack(">I", data[29:33])[0]:
        raise ValueError(f"Report.add_figure: {name} is a corrupt PNG (IHDR checksum fails)")
    if width == 0 or height == 0:
        raise ValueError(f"Report.add_figure: {name} is an empty PNG ({width}x{height})")
    return width, height


def _to_numpy(value, name: str) -> np.ndarray:
    """A tensor (any device) or array-like as a float64 array."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
        value = (value.double() if value.is_floating_point() else value).numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"Report: {name} must be numeric (a number, array or tensor), got "
                        f"{type(value).__name__}") from error
    return array


def _number_text(value: float, number_format: str) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return number_format.format(value)


def _data_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def _cell(value, number_format: str, where: str) -> str:
    """One <td>: numbers right-aligned with their exact value in data-value, text escaped."""
    if value is None:
        return "<td></td>"
    if isinstance(value, (bool, np.bool_)):
        return f"<td>{value!s}</td>"
    if isinstance(value, (numbers.Integral, np.integer)):
        return f'<td class="num" data-value="{int(value)}">{int(value)}</td>'
    if isinstance(value, (numbers.Real, np.floating)):
        value = float(value)
        return (f'<td class="num" data-value="{_data_value(value)}">'
                f"{_esc(_number_text(value, number_format))}</td>")
    if isinstance(value, str):
        return f"<td>{_esc(value)}</td>"
    if hasattr(value, "detach") or isinstance(value, np.ndarray):
        array = _to_numpy(value, where)
        if array.size != 1:
            raise ValueError(f"Report.add_table: {where} is an array of shape "
                             f"{tuple(array.shape)}; a cell holds one value (reduce it first, "
                             "e.g. .sum())")
        return _cell(float(array.reshape(())), number_format, where)
    raise TypeError(f"Report.add_table: {where} has type {type(value).__name__}; a cell holds "
                    "a str, a real number, a 1-element array/tensor or None")


def _check_number_format(number_format) -> str:
    if not isinstance(number_format, str):
        raise TypeError("Report: number_format must be a format string such as '{:.4g}', got "
                        f"{type(number_format).__name__}")
    try:
        text = number_format.format(1.5)
    except (ValueError, IndexError, KeyError) as error:
        raise ValueError(f"Report: number_format {number_format!r} cannot format a float "
                         f"({error}); use one positional field such as '{{:.4g}}'") from error
    if text == number_format:
        raise ValueError(f"Report: number_format {number_format!r} has no replacement field; "
                         "use e.g. '{:.4g}'")
    return number_format


class Report:
    """A self-contained HTML report, written as one ``index.html``.

    Parameters
    ----------
    title : str
        The page title (``<title>`` and the ``<h1>``); not empty.
    subtitle : str, optional
        A line under the title (e.g. the model and the method).

    Notes
    -----
    Sections appear in the order they are added, each listed in a navigation bar at the top.
    Every ``add_*`` method validates its arguments immediately and returns the report, so
    calls chain. Nothing is written until :meth:`write`.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> report = Report("LRP of a digits MLP", "composite: epsilon-plus")
    >>> _ = report.add_text("About", "Relevance of the 64 pixels.").add_figure("Map", fig)
    >>> len(report)
    2
    >>> report.write("out/report")          # doctest: +SKIP
    PosixPath('/.../out/report/index.html')
    """

    def __init__(self, title: str, subtitle: str = ""):
        self.title = _check_text(title, "title", empty=False)
        self.subtitle = _check_text(subtitle, "subtitle")
        self._sections: list[tuple[str, str]] = []      # (heading, inner html)
        self._tables = 0

    def __len__(self) -> int:
        return len(self._sections)

    # ---- sections -------------------------------------------------------------------------
    def _add(self, heading: str, body: str) -> Report:
        self._sections.append((heading, body))
        return self

    def add_text(self, heading: str, text: str) -> Report:
        """A section of prose: ``text`` split into paragraphs at blank lines, escaped.

        Parameters
        ----------
        heading : str
            The section heading; not empty.
        text : str
            Plain text (no markup is interpreted); single line breaks are kept.
        """
        _check_text(heading, "add_text heading", empty=False)
        _check_text(text, "add_text text")
        paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
        body = "\n".join("<p>" + _esc(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs)
        return self._add(heading, body)

    def add_summary(self, heading: str, text: str) -> Report:
        """A preformatted block (monospace, whitespace kept), e.g. ``graph.summary()``.

        Parameters
        ----------
        heading : str
            The section heading; not empty.
        text : str
            The text, shown verbatim (escaped).
        """
        _check_text(heading, "add_summary heading", empty=False)
        _check_text(text, "add_summary text")
        return self._add(heading, f'<pre class="summary">{_esc(text)}</pre>')

    def add_figure(self, caption: str, figure) -> Report:
        """A figure embedded as a base64 PNG data URI.

        Parameters
        ----------
        caption : str
            The section heading and the figure's caption (also its ``alt`` text); not empty.
        figure : matplotlib.figure.Figure, bytes or path
            A matplotlib Figure is rendered with ``savefig(format="png", dpi=110,
            bbox_inches="tight")`` and then closed (``pyplot.close``) when pyplot manages it;
            bytes must be a PNG file's content; a str or path must name an existing PNG file.
        """
        from matplotlib.figure import Figure

        _check_text(caption, "add_figure caption", empty=False)
        if isinstance(figure, Figure):
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
            if getattr(figure.canvas, "manager", None) is not None:
                import matplotlib.pyplot as plt

                plt.close(figure)
            data, name = buffer.getvalue(), "the rendered figure"
        elif isinstance(figure, (bytes, bytearray, memoryview)):
            data, name = bytes(figure), "figure (bytes)"
        elif isinstance(figure, (str, os.PathLike)):
            path = Path(figure)
            if not path.is_file():
                raise FileNotFoundError(f"Report.add_figure: figure path {str(path)!r} is not "
                                        "an existing file; pass the path of a .png file")
            data, name = path.read_bytes(), f"figure file {str(path)!r}"
        else:
            hint = (" (an Axes: pass its .figure)" if hasattr(figure, "get_figure") and
                    hasattr(figure, "plot") else "")
            raise TypeError(f"Report.add_figure: figure must be a matplotlib Figure, PNG bytes "
                            f"or the path of a PNG file, got {type(figure).__name__}{hint}")
        width, height = _png_size(data, name)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        body = (f'<figure><img src="{uri}" width="{width}" height="{height}" '
                f'alt="{_esc(caption)}"><figcaption>{_esc(caption)}</figcaption></figure>')
        return self._add(caption, body)

    def _table_html(self, columns, rows, *, sortable, footer=None) -> str:
        self._tables += 1
        head = "".join(f'<th scope="col">{_esc(c)}</th>' for c in columns)
        body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
        foot = "" if footer is None else "<tfoot><tr>" + "".join(footer) + "</tr></tfoot>"
        cls = ' class="sortable"' if sortable else ""
        return (f'<div class="scroll"><table id="table-{self._tables}"{cls}>'
                f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>{foot}</table></div>")

    def add_table(self, heading: str, columns, rows, *, sortable: bool = True,
                  number_format: str = "{:.4g}", note: str = "") -> Report:
        """A table, sortable by clicking a header.

        Parameters
        ----------
        heading : str
            The section heading; not empty.
        columns : sequence of str
            The column names; at least one.
        rows : sequence of sequences
            One sequence of ``len(columns)`` cells per row (a 2-d array works too). A cell is
            a str (escaped), an int (shown exactly), a real number (shown with
            ``number_format``; NaN as "NaN", ±inf as "inf"/"-inf"), a 1-element array or
            tensor, or None (empty).
        sortable : bool, optional
            Clicking a header sorts the rows by that column (numbers by exact value, text in
            natural order; again to reverse). Default True.
        number_format : str, optional
            ``str.format`` pattern for real numbers; default ``"{:.4g}"``. Sorting always
            uses the exact value.
        note : str, optional
            A line under the table.
        """
        _check_text(heading, "add_table heading", empty=False)
        _check_text(note, "add_table note")
        number_format = _check_number_format(number_format)
        if not isinstance(sortable, (bool, np.bool_)):
            raise TypeError(f"Report.add_table: sortable must be True or False, got "
                            f"{type(sortable).__name__}")
        if isinstance(columns, str) or not hasattr(columns, "__len__"):
            raise TypeError("Report.add_table: columns must be a sequence of str (the column "
                            f"names), got {type(columns).__name__}")
        columns = list(columns)
        if not columns:
            raise ValueError("Report.add_table: columns is empty; give at least one column name")
        for i, c in enumerate(columns):
            _check_text(c, f"add_table columns[{i}]")
        if isinstance(rows, str) or not hasattr(rows, "__iter__"):
            raise TypeError("Report.add_table: rows must be a sequence of rows (each a sequence "
                            f"of cells), got {type(rows).__name__}")
        cells = []
        for r, row in enumerate(rows):
            if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
                raise TypeError(f"Report.add_table: rows[{r}] must be a sequence of "
                                f"{len(columns)} cells, got {type(row).__name__}")
            if len(row) != len(columns):
                raise ValueError(f"Report.add_table: rows[{r}] has {len(row)} cells but there "
                                 f"are {len(columns)} columns {columns}")
            cells.append([_cell(v, number_format, f"rows[{r}][{c}]") for c, v in enumerate(row)])
        body = self._table_html(columns, cells, sortable=bool(sortable))
        if note:
            body += f'\n<p class="note">{_esc(note)}</p>'
        return self._add(heading, body)

    def add_relevance_table(self, feature_names, relevance, *, sample_ids=None, outputs=None,
                            heading: str = "Relevance per sample",
                            number_format: str = "{:.4g}") -> Report:
        """A sortable table of relevance: one row per sample, one column per feature.

        The columns are ``sample``, ``f(x)`` (when ``outputs`` is given), ``ΣR`` (the row sum
        :math:`\\sum_i R_i`) and one column per feature. With ``outputs`` a note gives the
        largest conservation gap :math:`\\max_n |\\sum_i R_{n,i} - f(x_n)|`.

        Parameters
        ----------
        feature_names : sequence of str
            One name per feature (column of ``relevance``).
        relevance : array or tensor, shape (N, F)
            Relevance per sample and feature (any device; copied to numpy).
        sample_ids : sequence, optional
            One label per sample (str or int); default ``0 … N-1``.
        outputs : array or tensor, shape (N,), optional
            The explained output f(x) per sample.
        heading : str, optional
            The section heading.
        number_format : str, optional
            ``str.format`` pattern for the numbers; default ``"{:.4g}"``.
        """
        _check_text(heading, "add_relevance_table heading", empty=False)
        number_format = _check_number_format(number_format)
        rel = _to_numpy(relevance, "add_relevance_table relevance")
        if rel.ndim != 2:
            raise ValueError(f"Report.add_relevance_table: relevance must be 2-d (samples, "
                             f"features), got shape {tuple(rel.shape)}; flatten each sample "
                             "first (relevance.reshape(len(relevance), -1))")
        n, f = rel.shape
        if n == 0 or f == 0:
            raise ValueError(f"Report.add_relevance_table: relevance has shape {(n, f)}; it "
                             "needs at least one sample and one feature")
        if isinstance(feature_names, str) or not hasattr(feature_names, "__len__"):
            raise TypeError("Report.add_relevance_table: feature_names must be a sequence of "
                            f"str, got {type(feature_names).__name__}")
        names = list(feature_names)
        if len(names) != f:
            raise ValueError(f"Report.add_relevance_table: {len(names)} feature_names for "
                             f"relevance with {f} features (shape {(n, f)}); give one name "
                             "per column")
        for i, name in enumerate(names):
            _check_text(name, f"add_relevance_table feature_names[{i}]")
        if sample_ids is None:
            ids = list(range(n))
        else:
            if isinstance(sample_ids, str) or not hasattr(sample_ids, "__len__"):
                raise TypeError("Report.add_relevance_table: sample_ids must be a sequence "
                                f"(one label per sample), got {type(sample_ids).__name__}")
            ids = list(sample_ids)
            if len(ids) != n:
                raise ValueError(f"Report.add_relevance_table: {len(ids)} sample_ids for {n} "
                                 "samples; give one label per row of relevance")
            for i, v in enumerate(ids):
                if not isinstance(v, (str, numbers.Integral, np.integer)) or \
                        isinstance(v, (bool, np.bool_)):
                    raise TypeError(f"Report.add_relevance_table: sample_ids[{i}] must be a "
                                    f"str or an int, got {type(v).__name__}")
        total = rel.sum(axis=1)
        columns = ["sample"]
        out = None
        if outputs is not None:
            out = _to_numpy(outputs, "add_relevance_table outputs")
            if out.shape != (n,):
                raise ValueError("Report.add_relevance_table: outputs must have one value per "
                                 f"sample, shape ({n},), got shape {tuple(out.shape)}")
            columns.append("f(x)")
        columns += ["ΣR", *names]
        cells = []
        for i in range(n):
            row = [_cell(ids[i], number_format, f"sample_ids[{i}]")]
            if out is not None:
                row.append(_cell(float(out[i]), number_format, ""))
            row.append(_cell(float(total[i]), number_format, ""))
            row += [_cell(float(v), number_format, "") for v in rel[i]]
            cells.append(row)
        body = self._table_html(columns, cells, sortable=True)
        note = f"{n} sample(s) × {f} feature(s); ΣR is the sum of a row's relevance."
        if out is not None:
            gap = np.abs(total - out)
            worst = float(np.nanmax(gap)) if np.isfinite(gap).any() else float("nan")
            note += (" Largest conservation gap max |ΣR − f(x)| = "
                     f"{_number_text(worst, number_format)}.")
        body += f'\n<p class="note">{_esc(note)}</p>'
        return self._add(heading, body)

    def add_conservation(self, table, *, heading: str = "Conservation",
                         number_format: str = "{:.6g}") -> Report:
        """The per-node conservation table of an LRP explanation, with totals.

        One row per node, as :attr:`lrp.Explanation.table` gives it: the relevance arriving
        at the node's output (``relevance_in``), the relevance it sends to its inputs
        (``relevance_out``) and their difference (``absorbed``: biases, stabilizers), each
        summed over the batch. The footer holds :math:`\\sum_{nodes}` absorbed, and a note
        the balance :math:`R_{\\text{inputs}} = R_{\\text{first node, in}} -
        \\sum_{nodes} \\text{absorbed}` (the first row is the explained node in lrp's table;
        Bach et al., 2015, "On pixel-wise explanations …", PLoS ONE 10(7): e0130140).

        Parameters
        ----------
        table : list of dict or lrp.Explanation
            Rows with keys ``node``, ``rule``, ``relevance_in``, ``relevance_out``,
            ``absorbed``; the values are numbers, or arrays/tensors (per sample) that are
            summed. An object with a ``.table`` (an :class:`lrp.Explanation` from
            ``lrp.explain(..., return_all=True)``) is read through it.
        heading : str, optional
            The section heading.
        number_format : str, optional
            ``str.format`` pattern for the numbers; default ``"{:.6g}"``.
        """
        _check_text(heading, "add_conservation heading", empty=False)
        number_format = _check_number_format(number_format)
        if hasattr(table, "table") and not isinstance(table, (list, tuple)):
            table = table.table
        if table is None:
            raise ValueError("Report.add_conservation: the explanation has no table; run "
                             "lrp.explain(..., return_all=True)")
        if isinstance(table, (str, dict)) or not hasattr(table, "__iter__"):
            raise TypeError("Report.add_conservation: table must be a list of dicts (the "
                            "table of lrp.explain(..., return_all=True)), got "
                            f"{type(table).__name__}")
        table = list(table)
        if not table:
            raise ValueError("Report.add_conservation: the table is empty; pass the table of "
                             "lrp.explain(..., return_all=True)")
        keys = ("node", "rule", "relevance_in", "relevance_out", "absorbed")
        rows, sums = [], []
        for r, row in enumerate(table):
            if not isinstance(row, dict):
                raise TypeError(f"Report.add_conservation: table[{r}] must be a dict with keys "
                                f"{list(keys)}, got {type(row).__name__}")
            missing = [k for k in keys if k not in row]
            if missing:
                raise ValueError(f"Report.add_conservation: table[{r}] lacks the key(s) "
                                 f"{missing}; each row needs {list(keys)}")
            values = []
            for k in keys[2:]:
                array = _to_numpy(row[k], f"table[{r}][{k!r}]")
                values.append(float(array.sum()))
            sums.append(values)
            rows.append([_cell(str(row["node"]), number_format, ""),
                         _cell(str(row["rule"]), number_format, ""),
                         *[_cell(v, number_format, "") for v in values]])
        absorbed = math.fsum(s[2] for s in sums)
        footer = ["<td>Σ over nodes</td>", "<td></td>", "<td></td>", "<td></td>",
                  _cell(absorbed, number_format, "")]
        columns = ["node", "rule", "relevance in", "relevance out", "absorbed"]
        body = self._table_html(columns, rows, sortable=True, footer=footer)
        start, first = sums[0][0], str(table[0]["node"])
        note = (f"Values are summed over the batch. Relevance entering at the first node "
                f"({first}): {_number_text(start, number_format)}; absorbed in the graph "
                f"(Σ over nodes): {_number_text(absorbed, number_format)}; so the inputs "
                f"should receive {_number_text(start - absorbed, number_format)}.")
        body += f'\n<p class="note">{_esc(note)}</p>'
        return self._add(heading, body)

    # ---- output ---------------------------------------------------------------------------
    def render(self) -> str:
        """The whole page as one HTML string (what :meth:`write` saves)."""
        nav = "".join(f'<a href="#section-{i + 1}">{_esc(h)}</a>'
                      for i, (h, _) in enumerate(self._sections))
        sections = "\n".join(f'<section id="section-{i + 1}"><h2>{_esc(h)}</h2>\n{b}\n</section>'
                             for i, (h, b) in enumerate(self._sections))
        subtitle = f'<p class="subtitle">{_esc(self.subtitle)}</p>' if self.subtitle else ""
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="generator" content="neon_xai.report">\n'
            f"<title>{_esc(self.title)}</title>\n"
            f"<script>{_ERROR_JS}</script>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{_esc(self.title)}</h1>{subtitle}</header>\n"
            + (f"<nav>{nav}</nav>\n" if nav else "")
            + f"<main>\n{sections}\n</main>\n"
            '<pre id="errors" hidden></pre>\n'
            f"<script>{_PAGE_JS}</script>\n</body>\n</html>\n")

    def write(self, path) -> Path:
        """Write the report as ``<path>/index.html``.

        Parameters
        ----------
        path : str or path
            The folder to write into; created (with its parents) when missing.

        Returns
        -------
        pathlib.Path
            The absolute path of the written ``index.html``.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"Report.write: path must be a folder path (str or Path), got "
                            f"{type(path).__name__}")
        folder = Path(path)
        if folder.suffix.lower() in (".html", ".htm"):
            raise ValueError(f"Report.write: path {str(folder)!r} looks like a file; give the "
                             "folder, the report is written as <folder>/index.html")
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"Report.write: path {str(folder)!r} exists and is not a "
                                     "folder; give a folder for index.html")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "index.html"
        partial = folder / ".index.html.part"
        partial.write_text(self.render(), encoding="utf-8")
        partial.replace(target)
        return target.resolve()
