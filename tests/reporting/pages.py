"""Reading a written page back as a browser would: its tags, what it loads, and the data of each plotly chart."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Attributes through which a browser fetches something on its own.
LOADING = {"src", "href", "srcset", "data", "poster", "action", "formaction", "background", "manifest", "codebase"}


class Page(HTMLParser):
    """Parses a whole page (Python's HTML parser), checks that every element it opens is closed in order, and keeps
    the attributes that load resources and the text of <style> elements."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.html, self.open, self.errors, self.loads, self.styles, self.tags = html, [], [], [], [], []
        self._in_style = False
        self.feed(html)
        self.close()
        if self.open:
            self.errors.append(f"never closed: {self.open}")

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.loads += [(tag, name, value or "") for name, value in attrs if name in LOADING]
        self._in_style = tag == "style"
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.loads += [(tag, name, value or "") for name, value in attrs if name in LOADING]

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1] if self.open else 'nothing'}")
            return
        self.open.pop()
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def charts(html: str) -> dict[str, dict]:
    """{div id: {"data", "layout", "config"}} of every Plotly.newPlot call on the page."""
    decoder, found = json.JSONDecoder(), {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', html):
        parts, at = [], match.end()
        for _ in range(3):
            value, at = decoder.raw_decode(html, at)
            parts.append(value)
            at = re.compile(r"\s*,?\s*").match(html, at).end()
        found[match.group(1)] = dict(zip(("data", "layout", "config"), parts))
    return found


def trace(chart: dict, name_start: str) -> dict:
    matches = [t for t in chart["data"] if t.get("name", "").startswith(name_start)]
    assert len(matches) == 1, [t.get("name") for t in chart["data"]]
    return matches[0]
