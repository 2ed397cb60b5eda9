"""Griffe extension for the documentation site: the reST markup of the docstrings as Markdown.

The docstrings are numpydoc, written with reST inline markup, which mkdocstrings renders as
Markdown. Before a docstring is parsed this extension rewrites, in its text only (the source
files are never touched):

* the roles ``:func:`lrp.explain```, ``:class:`~neon.ops.SquaredDistance```, ``:mod:`.kmeans```,
  … into optional cross-references: a link where the target is documented on the site, else
  inline code (an optional reference never warns). ``~`` shows the last component only; a
  relative or unqualified name is resolved in the docstring's scope (its module, imports,
  class). In a numpydoc type (``name : type`` lines) a role becomes plain text;
* simple reST tables (``====  ====`` rules) into Markdown pipe tables;
* literal blocks (``text::``, ``::``) and ``.. math::`` directives into fenced code blocks.

It also reads a module's ``__all__`` by importing the module where the list is computed
(``lrp.methods`` builds it from ``METHODS``), which static analysis cannot evaluate, so the
API pages follow ``__all__`` there too.

Loaded by ``mkdocs.yml`` (``plugins: mkdocstrings: handlers: python: options: extensions``).
"""

from __future__ import annotations

import html
import importlib
import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|obj|data|exc|const|ref):`([^`]+)`")
_TYPE_LINE = re.compile(r"^([\w*][\w*, ]*) : (.+)$")
_RULE = re.compile(r"^( *)(=+)((?: +=+)+) *$")
_LITERAL = re.compile(r"^( *)(.*?)::$")
_UNDERLINE = re.compile(r"^-{3,}$")
_ITEM_SECTIONS = {"Parameters", "Other Parameters", "Returns", "Yields", "Receives", "Raises",
                  "Warns", "Attributes"}


def _target(obj: griffe.Object, name: str) -> str:
    """The full path ``name`` stands for in ``obj``'s scope (best effort)."""
    if name.startswith("."):
        module = obj if obj.is_module else obj.module
        return f"{module.path}{name}"
    head, _, rest = name.partition(".")
    try:
        full = obj.resolve(head)
    except (griffe.NameResolutionError, AttributeError, KeyError):
        return name
    return f"{full}.{rest}" if rest else full


def _role_link(obj: griffe.Object, text: str) -> str:
    """A role's text (``~a.b``, ``title <a.b>``, ``a.b()``) as an optional autoref."""
    title, _, explicit = text.partition(" <")
    if explicit:
        name, shown = explicit.rstrip(">"), title
    else:
        name = text.lstrip("~")
        shown = name.rsplit(".", 1)[-1] if text.startswith("~") else name
    name = name.removesuffix("()")
    ident = _target(obj, name)
    return (f'<autoref identifier="{html.escape(ident)}" optional>'
            f"<code>{html.escape(shown)}</code></autoref>")


def _plain(text: str) -> str:
    return _ROLE.sub(lambda m: m.group(1).lstrip("~"), text)


def _roles(obj: griffe.Object, lines: list[str]) -> list[str]:
    """Roles as autorefs, except in the item lines of numpydoc sections (names and types,
    which mkdocstrings shows as code): there they become plain text."""
    out, fenced, items = [], False, False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and line.strip():
            items = line.strip() in _ITEM_SECTIONS
        typed = _TYPE_LINE.match(line)
        if fenced:
            out.append(line)
        elif typed:   # a numpydoc "name : type" line: the type stays plain text
            out.append(f"{typed.group(1)} : {_plain(typed.group(2))}")
        elif items and line.strip() and not line[0].isspace():
            out.append(_plain(line))
        else:
            out.append(_ROLE.sub(lambda m: _role_link(obj, m.group(1)), line))
    return out


def _table(block: list[str], indent: int) -> list[str]:
    """A simple reST table (its rule lines included) as a Markdown pipe table."""
    rule = block[0][indent:]
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]
    rows: list[list[str]] = []
    header = None
    for line in block[1:]:
        text = line[indent:]
        if _RULE.match(line):
            if header is None and rows:
                header = len(rows)
            continue
        starts = [start for start, _ in spans]
        cells = [text[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        if rows and not cells[0]:    # a continuation line: first column empty
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    header = header or 1
    pad = " " * indent
    head, body = rows[:header], rows[header:]
    titles = [" ".join(c).strip() for c in zip(*head)]
    out = [pad + "| " + " | ".join(titles) + " |", pad + "|" + "---|" * len(spans)]
    out += [pad + "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return out


def _tables(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        first = _RULE.match(lines[i])
        if first:
            indent = len(first.group(1))
            j, rules = i + 1, 1
            while j < len(lines) and lines[j].strip():
                rules += bool(_RULE.match(lines[j]))
                j += 1
            if rules >= 2 and _RULE.match(lines[j - 1]):
                out += ([""] if out and out[-1].strip() else []) + _table(lines[i:j], indent)
                i = j
                continue
        out.append(lines[i])
        i += 1
    return out


def _literals(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        found = _LITERAL.match(lines[i])
        if not found:
            out.append(lines[i])
            i += 1
            continue
        pad, text = found.group(1), found.group(2)
        indent = len(pad)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        k = j
        while k < len(lines) and (not lines[k].strip()
                                  or len(lines[k]) - len(lines[k].lstrip()) > indent):
            k += 1
        while k > j and not lines[k - 1].strip():
            k -= 1
        if k == j:    # no indented block follows: not a literal block
            out.append(lines[i])
            i += 1
            continue
        body = lines[j:k]
        cut = min(len(b) - len(b.lstrip()) for b in body if b.strip())
        intro = "" if text.strip() in ("", ".. math") else text.rstrip() + ":"
        if intro:
            out += [pad + intro, ""]
        out += [pad + "```text", *[(pad + b[cut:]) if b.strip() else "" for b in body],
                pad + "```"]
        if k < len(lines) and lines[k].strip():
            out.append("")
        i = k
    return out


def convert(obj: griffe.Object, text: str) -> str:
    """``text``, a docstring of ``obj``, with its reST markup written as Markdown."""
    lines = text.splitlines()
    return "\n".join(_roles(obj, _literals(_tables(lines))))


class RstMarkup(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj, obj.docstring.value)
            if obj.is_module and "__all__" in obj.members and not obj.exports:
                obj.exports = [str(n) for n in importlib.import_module(obj.path).__all__]
            stack += [m for m in obj.members.values() if not m.is_alias]
