"""Render a page from its template and write it atomically: one self-contained HTML file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import jinja2

from cream.engine.logs import versions
from cream.reporting.charts import plotly_js

_templates = jinja2.Environment(loader=jinja2.PackageLoader("cream.reporting", "templates"),
                                autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                                trim_blocks=True, lstrip_blocks=True)


def render(values: dict) -> str:
    """The page of ``values["kind"]`` (search, retrain, test, rankcorr, select or compare)."""
    template = _templates.get_template(f"{values['kind']}.html.j2")
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return template.render(**values, plotly_js=plotly_js(), written=written, cream=versions()["cream"])


def write_page(html: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def size_text(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"
