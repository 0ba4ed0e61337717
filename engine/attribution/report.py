"""One self-contained HTML page per attributed image: input, prediction, maps, indices and curves.

Everything is inlined (PNG as data URIs, curves as inline SVG) so the file opens in any browser, can be
mailed or archived, and never points at files that may move.
"""
from __future__ import annotations

import base64
import html

import numpy as np

from .common import colorize, encode_png, overlay, resize


def _img(rgb: np.ndarray, width: int = 320, title: str = "") -> str:
    h, w = rgb.shape[:2]
    if w > 2 * width:
        rgb = resize(rgb, (2 * width, max(1, int(h * 2 * width / w))))
    b64 = base64.b64encode(encode_png(rgb)).decode("ascii")
    cap = f"<figcaption>{html.escape(title)}</figcaption>" if title else ""
    return f'<figure><img src="data:image/png;base64,{b64}" width="{width}" alt="{html.escape(title)}">{cap}</figure>'


def _svg_curves(curves: dict, w: int = 360, h: int = 200) -> str:
    colors = {"deletion": "#d62728", "insertion": "#1f77b4", "deletion_random": "#ff9896", "insertion_random": "#aec7e8"}
    parts = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="0" y="0" width="{w}" height="{h}" fill="white" stroke="#999"/>']
    for i, (k, c) in enumerate(curves.items()):
        if c is None:
            continue
        s = np.asarray(c.scores, float)
        top = max(1e-9, max(float(cc.scores.max()) for cc in curves.values() if cc is not None))
        pts = " ".join(f"{10 + (w - 20) * j / (len(s) - 1):.1f},{h - 10 - (h - 20) * v / top:.1f}" for j, v in enumerate(s))
        dash = ' stroke-dasharray="4 3"' if "random" in k else ""
        parts.append(f'<polyline fill="none" stroke="{colors.get(k, "#333")}" stroke-width="2"{dash} points="{pts}"/>')
        parts.append(f'<text x="{w - 150}" y="{18 + 14 * i}" font-size="11" fill="{colors.get(k, "#333")}">'
                     f'{html.escape(k)} AUC {c.auc:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(res, alpha: float = 0.5, cmap: str = "jet") -> str:
    """The report for an `AttributionResult` as one HTML string."""
    m = res.metrics
    rows = []
    for k in ("target_score", "convergence_delta", "output_difference", "relative_error", "steps", "baseline", "layer",
              "deletion_auc", "insertion_auc", "deletion_auc_random", "insertion_auc_random", "fold", "reference"):
        if k in m and m[k] is not None:
            v = m[k]
            rows.append(f"<tr><th>{k}</th><td>{v:.4g}</td></tr>" if isinstance(v, float) else
                        f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>")
    topk = "".join(f"<tr><td>{t['index']}</td><td>{html.escape(t['name'])}</td><td>{t['score']:.3f}</td></tr>"
                   for t in res.topk)
    figs = [_img(res.image, title="input"), _img(colorize(res.map, cmap, res.signed), title=f"map ({res.method})"),
            _img(overlay(res.image, res.map, alpha, cmap), title="overlay")]
    joint_figs = "".join(_img(overlay(res.image, mp, alpha, cmap), 160, j) for j, mp in list(res.joint_maps.items())[:33])
    idx = ""
    if res.indices:
        keys = list(res.indices)
        joints = list(next(iter(res.indices.values())))
        idx = "<table><tr><th>joint</th>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr>" + "".join(
            f"<tr><td>{html.escape(j)}</td>" + "".join(f"<td>{res.indices[k].get(j, 0):.3f}</td>" for k in keys) + "</tr>"
            for j in joints) + "</table>"
    curves = _svg_curves(res.curves) if res.curves else ""
    title = f"SceneLens attribution — {res.method} → {res.target_name}"
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:20px}} figure{{display:inline-block;margin:4px}} table{{border-collapse:collapse;margin:8px 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:left}} h2{{font-size:16px}}</style></head><body>
<h1 style="font-size:20px">{html.escape(title)}</h1>
<p>image: {html.escape(res.source or '(in memory)')} · model: {html.escape(str(res.model))} · target: {html.escape(str(res.target))}</p>
<div>{''.join(figs)}</div>
{'<h2>Top classes</h2><table><tr><th>#</th><th>class</th><th>p</th></tr>' + topk + '</table>' if topk else ''}
<h2>Metrics</h2><table>{''.join(rows)}</table>
{'<h2>Per-joint maps</h2><div>' + joint_figs + '</div>' if joint_figs else ''}
{'<h2>Indices (FI, LI, DI)</h2>' + idx if idx else ''}
{'<h2>Deletion / insertion</h2>' + curves if curves else ''}
</body></html>"""


def write_report(res, path, alpha: float = 0.5, cmap: str = "jet") -> None:
    from ..atomic import write_text

    write_text(path, html_report(res, alpha, cmap))
