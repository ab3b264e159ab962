"""The test's figures: top-1/top-5, accuracy per class, the confusion matrix and the most confident mistakes."""

from __future__ import annotations

import base64
import io

import plotly.graph_objects as go
from PIL import Image

from cream.reporting.charts import as_html, figure
from cream.reporting.files import RunFiles


def test_page(run: RunFiles) -> dict:
    return {"kind": "test", "title": f"test {run.test['arch']}", "run": run, "facts": [], "test": test_sections(run)}


test_page.__test__ = False  # a page, not a test for pytest to collect


def test_sections(run: RunFiles) -> dict:
    """The test template's values."""
    test = run.test
    classes = test["data"].get("classes") or []
    sections = {"headline": test_headline(test), "per_class": None, "confusion": None, "mistakes": []}
    if test.get("per_class"):
        sections["per_class"] = as_html(per_class_figure(test["per_class"]), "per-class")
        sections["confusion"] = as_html(confusion_figure(test["confusion"], classes), "confusion")
    if run.mistakes is not None:
        m = run.mistakes
        sections["mistakes"] = [{"image": png_data_uri(m["images"][i]), "label": _name(classes, m["label"][i]),
                                 "predicted": _name(classes, m["predicted"][i]), "confidence": 100 * m["confidence"][i]}
                                for i in range(len(m["label"]))]
    return sections


def test_headline(test: dict) -> list[tuple[str, str]]:
    data = test["data"]
    rows = [(f"{name} weights", f"top-1 {r['top1']:.2f}%, top-5 {r['top5']:.2f}%, loss {r['loss']:.4f}")
            for name, r in test["results"].items()]
    rows.append(("data", f"{data['images']} {data.get('split', 'test')} images of {data['dataset']}, "
                         f"{len(data.get('classes') or [])} classes"))
    rows.append(("network", f"{test['arch']} at {test['net']['resolution']} px: {test['params']:.2f} M parameters, "
                            f"{test['macs']:.2f} M multiply-adds"))
    rows.append(("latency", "; ".join(f"{x['ms']:.2f} ms at batch {x['batch']}" for x in test["latency"])
                 + f" on {test['device']} ({test['threads']} thread(s))"))
    rows.append(("checkpoint", test["checkpoint"]))
    return rows


def per_class_figure(per_class: list[dict]) -> go.Figure:
    fig = figure(height=360, yaxis_title="top-1 (%)", yaxis_range=[0, 100])
    fig.add_trace(go.Bar(x=[c["class"] for c in per_class], y=[c["top1"] for c in per_class],
                         text=[f"{c['top1']:.1f}" for c in per_class], customdata=[c["images"] for c in per_class],
                         hovertemplate="%{x}: %{y:.2f}% of %{customdata} images<extra></extra>"))
    return fig


def confusion_figure(confusion: list[list[int]], classes: list[str]) -> go.Figure:
    """Rows: the true class; columns: the predicted one; each cell the share of the row's images."""
    shares = [[100 * n / max(sum(row), 1) for n in row] for row in confusion]
    fig = figure(height=520, xaxis_title="predicted", yaxis_title="true class", yaxis_autorange="reversed")
    fig.add_trace(go.Heatmap(z=shares, x=classes, y=classes, customdata=confusion, colorscale="Blues",
                             text=[[f"{s:.0f}" if s >= 1 else "" for s in row] for row in shares],
                             texttemplate="%{text}", colorbar={"title": "% of row"},
                             hovertemplate="true %{y}, predicted %{x}: %{customdata} images (%{z:.1f}%)"
                                           "<extra></extra>"))
    return fig


def png_data_uri(image) -> str:
    """An H x W x C uint8 image as an inline PNG (data: URI)."""
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _name(classes: list[str], index) -> str:
    index = int(index)
    return classes[index] if index < len(classes) else str(index)
