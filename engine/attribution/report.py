"""One self-contained HTML page per attributed image: input, prediction, maps, indices and curves.

Everything is inlined (PNG as data URIs, curves as inline SVG) so the file opens in any browser, can be
mailed or archived, and never points at files that may move. Every map carries its colour bar (values
saturate at the captum-style clipping scale), the curves have labelled axes, the completeness gap is
flagged when it is above the tolerance, and pose results show predicted vs reference keypoints, the EPE
per joint and the joint-inversion flags.
"""
from __future__ import annotations

import base64
import html

import numpy as np

from .common import colorbar, colorize, display_scale, encode_png, overlay, resize


def _img(rgb: np.ndarray, width: int = 320, title: str = "") -> str:
    h, w = rgb.shape[:2]
    if w > 2 * width:
        rgb = resize(rgb, (2 * width, max(1, int(h * 2 * width / w))))
    b64 = base64.b64encode(encode_png(rgb)).decode("ascii")
    cap = f"<figcaption>{html.escape(title)}</figcaption>" if title else ""
    return f'<figure><img src="data:image/png;base64,{b64}" width="{width}" alt="{html.escape(title)}">{cap}</figure>'


def _fmt(v) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def _svg_xy(series: list, xlabel: str, ylabel: str, w: int = 470, h: int = 260) -> str:
    """Line chart with axes: series = [(legend, xs, ys, colour)]; y from min(0, data) to max(data)."""
    if not series:
        return ""
    xs_all = np.concatenate([np.asarray(s[1], float) for s in series])
    ys_all = np.concatenate([np.asarray(s[2], float) for s in series])
    ys_all = ys_all[np.isfinite(ys_all)]
    x0, x1 = float(xs_all.min()), float(max(xs_all.max(), xs_all.min() + 1e-9))
    y0 = min(0.0, float(ys_all.min()) if ys_all.size else 0.0)
    y1 = max(y0 + 1e-9, float(ys_all.max()) if ys_all.size else 1.0)
    L, R, T, B = 56, 190, 12, 40
    pw, ph = w - L - R, h - T - B

    def X(v):
        return L + pw * (v - x0) / (x1 - x0)

    def Y(v):
        return T + ph * (1 - (v - y0) / (y1 - y0))
    parts = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="white" stroke="#666"/>']
    for f in (0, 0.25, 0.5, 0.75, 1.0):
        xv, yv = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        parts.append(f'<line x1="{X(xv):.1f}" y1="{T + ph}" x2="{X(xv):.1f}" y2="{T + ph + 4}" stroke="#333"/>'
                     f'<text x="{X(xv):.1f}" y="{T + ph + 15}" text-anchor="middle">{_fmt(xv)}</text>'
                     f'<line x1="{L - 4}" y1="{Y(yv):.1f}" x2="{L}" y2="{Y(yv):.1f}" stroke="#333"/>'
                     f'<text x="{L - 6}" y="{Y(yv) + 4:.1f}" text-anchor="end">{_fmt(yv)}</text>')
    if y0 < 0 < y1:
        parts.append(f'<line x1="{L}" y1="{Y(0):.1f}" x2="{L + pw}" y2="{Y(0):.1f}" stroke="#bbb"/>')
    parts.append(f'<text x="{L + pw / 2}" y="{h - 6}" text-anchor="middle">{html.escape(xlabel)}</text>')
    parts.append(f'<text x="12" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 12 {T + ph / 2})">'
                 f'{html.escape(ylabel)}</text>')
    for i, (name, xs, ys, col) in enumerate(series):
        pts = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in zip(xs, ys) if np.isfinite(b))
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<line x1="{L + pw + 8}" y1="{T + 8 + 16 * i}" x2="{L + pw + 24}" y2="{T + 8 + 16 * i}" '
                     f'stroke="{col}" stroke-width="2"/><text x="{L + pw + 28}" y="{T + 12 + 16 * i}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _faithfulness_section(m: dict) -> str:
    """Quantus-style metrics: a table, the region-perturbation curves and the sanity curve."""
    rows = []
    for k, label in (("substrate", "substrate (what deleted pixels become)"),
                     ("random_cell", "granularity-matched floor: cell size (px)"),
                     ("deletion_auc_random_cells", "deletion AUC, cell-shuffled map (floor)"),
                     ("insertion_auc_random_cells", "insertion AUC, cell-shuffled map (floor)"),
                     ("faithfulness_correlation", "faithfulness correlation (Pearson; 1 = faithful)"),
                     ("aopc_morf", "AOPC MoRF (higher = better)"), ("aopc_lerf", "AOPC LeRF (lower = better)"),
                     ("aopc_random", "AOPC random order"), ("aopc_gap", "AOPC MoRF − LeRF"),
                     ("sanity_last", "sanity: Spearman ρ with every layer randomised (→ 0 expected)")):
        if k in m and m[k] is not None:
            v = m[k]
            bad = k == "sanity_last" and isinstance(v, float) and v > 0.5
            style = ' style="background:#fdd"' if bad else ""
            rows.append(f"<tr{style}><th>{html.escape(label)}</th><td>"
                        + (f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))) + "</td></tr>")
    if not rows:
        return ""
    out = "<h2>Faithfulness</h2><table>" + "".join(rows) + "</table>"
    cols = {"morf": "#d62728", "lerf": "#1f77b4", "random": "#7f7f7f"}
    rp = m.get("region_perturbation") or {}
    if rp:
        out += _svg_xy([(f"{o.upper()} AOPC {c['aopc']:.3f}", np.arange(1, len(c["drops"]) + 1), c["drops"],
                         cols.get(o, "#333")) for o, c in rp.items()],
                       f"regions removed ({next(iter(rp.values()))['patch']} px patches)", "score drop f(x) − f(x_k)")
    san = m.get("sanity") or {}
    if san.get("similarity"):
        depth = san.get("depth", {})
        xs = [0] + [depth.get(k, i + 1) for i, k in enumerate(san["similarity"])]
        out += _svg_xy([(f"{san.get('order', '')} (of {san.get('n_layers')})", xs,
                         [1.0] + list(san["similarity"].values()), "#9467bd")],
                       "layers re-initialised, from the output down", "Spearman ρ with the original map")
    return out


def _svg_curves(curves: dict, w: int = 470, h: int = 260) -> str:
    """Deletion / insertion curves with axes: x = fraction of pixels deleted or inserted, y = score."""
    colors = {"deletion": "#d62728", "insertion": "#1f77b4", "deletion_random": "#ff9896", "insertion_random": "#aec7e8",
              "deletion_random_cells": "#ff7f0e", "insertion_random_cells": "#17becf"}
    valid = {k: c for k, c in curves.items() if c is not None}
    if not valid:
        return ""
    top = max(1e-9, max(float(np.max(c.scores)) for c in valid.values()))
    L, R, T, B = 52, 200, 12, 40  # plot margins (left axis labels, legend on the right)
    pw, ph = w - L - R, h - T - B

    def X(f):
        return L + pw * f

    def Y(v):
        return T + ph * (1 - v / top)
    parts = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="white" stroke="#666"/>']
    for f in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{X(f):.1f}" y1="{T + ph}" x2="{X(f):.1f}" y2="{T + ph + 4}" stroke="#333"/>'
                     f'<text x="{X(f):.1f}" y="{T + ph + 15}" text-anchor="middle">{f:g}</text>')
        v = top * f
        parts.append(f'<line x1="{L - 4}" y1="{Y(v):.1f}" x2="{L}" y2="{Y(v):.1f}" stroke="#333"/>'
                     f'<text x="{L - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    parts.append(f'<text x="{L + pw / 2}" y="{h - 6}" text-anchor="middle">fraction of pixels deleted / inserted</text>')
    parts.append(f'<text x="12" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 12 {T + ph / 2})">'
                 f'score of the target</text>')
    for i, (k, c) in enumerate(valid.items()):
        s = np.asarray(c.scores, float)
        pts = " ".join(f"{X(j / max(1, len(s) - 1)):.1f},{Y(v):.1f}" for j, v in enumerate(s))
        dash = ' stroke-dasharray="4 3"' if "random" in k else ""
        col = colors.get(k, "#333")
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="2"{dash} points="{pts}"/>')
        parts.append(f'<line x1="{L + pw + 8}" y1="{T + 8 + 16 * i}" x2="{L + pw + 24}" y2="{T + 8 + 16 * i}" '
                     f'stroke="{col}" stroke-width="2"{dash}/><text x="{L + pw + 28}" y="{T + 12 + 16 * i}">'
                     f'{html.escape(k)} AUC {c.auc:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _keypoint_figure(res, width: int = 320) -> str:
    """The person crop with the model's keypoints (red) and the reference (green), joined per joint."""
    import cv2

    crop = res.extra.get("crop")
    m = res.metrics
    if crop is None or "predicted_keypoints_crop" not in m:
        return ""
    img = np.ascontiguousarray(crop.copy())
    pred = np.asarray(m["predicted_keypoints_crop"], float)
    ref = np.asarray(m["reference_keypoints_crop"], float)
    for p, r in zip(pred, ref):
        cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in r), (255, 255, 0), 1, cv2.LINE_AA)
        cv2.circle(img, tuple(int(v) for v in r), 3, (0, 200, 0), -1, cv2.LINE_AA)
        cv2.circle(img, tuple(int(v) for v in p), 3, (230, 0, 0), -1, cv2.LINE_AA)
    return _img(img, width, f"keypoints: model (red) vs {m.get('reference', 'reference')} (green)")


def _gap_rows(m: dict) -> str:
    if "relative_error" not in m:
        return ""
    from .ig import format_gap

    tol = m.get("tolerance")
    bad = m.get("converged") is False
    style = ' style="background:#fdd"' if bad else ""
    flag = " — ABOVE TOLERANCE (step cap reached)" if bad else ""
    tried = ", ".join(f"{n}: {format_gap(r)}" for n, r in (m.get("steps_tried") or []))
    return (f"<tr{style}><th>completeness gap |Σ IG − ΔF| / |ΔF|</th><td>{html.escape(format_gap(m['relative_error']))}"
            f" at {m.get('steps')} steps" + (f" (tolerance {100 * tol:.2f} %)" if tol else " (fixed steps)") +
            f"{flag}</td></tr>" + (f"<tr><th>steps tried</th><td>{html.escape(tried)}</td></tr>" if tried else ""))


def _pose_table(res) -> str:
    m = res.metrics
    if "EPE" not in m:
        return ""
    inv: dict[str, list[str]] = {}
    for f in m.get("joint_inversions", []):
        kind = "swap" if f.get("swap") else "near"
        inv.setdefault(f["joint"], []).append(f"{kind} → {f['to']}" + (" (ambiguous)" if f.get("ambiguous") else ""))
    gap = m.get("relative_gap_per_joint", {})
    out = []
    for j in m["EPE"]:
        flags = "; ".join(inv.get(j, []))
        style = ' style="background:#fdd"' if any("swap" in f and "ambiguous" not in f for f in inv.get(j, [])) else ""
        g = f"{100 * gap[j]:.2f} %" if j in gap else "–"
        out.append(f"<tr{style}><td>{html.escape(j)}</td><td>{m['EPE'][j]:.1f}</td>"
                   f"<td>{m.get('targets', {}).get(j, float('nan')):.3f}</td><td>{g}</td><td>{html.escape(flags)}</td></tr>")
    return ("<h2>Keypoints</h2><p>decode: " + html.escape(str(m.get("keypoint_decode", ""))) +
            " · EPE in crop pixels (" + str(m.get("input_size", "")) + "²) · target exp(−0.3·EPE/stride)</p>"
            "<table><tr><th>joint</th><th>EPE px</th><th>target</th><th>completeness gap</th><th>inversion flags</th></tr>"
            + "".join(out) + "</table>")


def html_report(res, alpha: float = 0.5, cmap: str = "jet") -> str:
    """The report for an `AttributionResult` as one HTML string."""
    m = res.metrics
    rows = [_gap_rows(m)]
    for k in ("target_score", "convergence_delta", "output_difference", "baseline", "layer",
              "deletion_auc", "insertion_auc", "deletion_auc_random", "insertion_auc_random", "fold", "reference"):
        if k in m and m[k] is not None:
            v = m[k]
            rows.append(f"<tr><th>{k}</th><td>{v:.4g}</td></tr>" if isinstance(v, float) else
                        f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>")
    warns = "".join(f'<p style="color:#b00"><b>warning:</b> {html.escape(w)}</p>' for w in m.get("warnings", []))
    topk = "".join(f"<tr><td>{t['index']}</td><td>{html.escape(t['name'])}</td><td>{t['score']:.3f}</td></tr>"
                   for t in res.topk)
    scale = display_scale(res.map)
    kind = "signed: red for, blue against the target" if res.signed else "magnitude"
    figs = [_img(res.image, title="input"),
            _img(colorize(res.map, cmap, res.signed), title=f"map ({res.method}, {kind})"),
            _img(overlay(res.image, res.map, alpha, cmap, res.signed), title="overlay"),
            _keypoint_figure(res)]
    cbar = _img(colorbar(cmap, res.signed, scale), 360, "colour scale (values beyond saturate)")
    joint_figs = "".join(_img(overlay(res.image, mp, alpha, cmap, res.signed), 160, j)
                         for j, mp in list(res.joint_maps.items())[:33])
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
<style>body{{font-family:sans-serif;margin:20px}} figure{{display:inline-block;margin:4px;vertical-align:top}}
table{{border-collapse:collapse;margin:8px 0}} td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:left}}
h2{{font-size:16px}}</style></head><body>
<h1 style="font-size:20px">{html.escape(title)}</h1>
<p>image: {html.escape(res.source or '(in memory)')} · model: {html.escape(str(res.model))} · target: {html.escape(str(res.target))}</p>
{warns}
<div>{''.join(figs)}</div><div>{cbar}</div>
{'<h2>Top classes</h2><table><tr><th>#</th><th>class</th><th>p</th></tr>' + topk + '</table>' if topk else ''}
<h2>Metrics</h2><table>{''.join(rows)}</table>
{_pose_table(res)}
{'<h2>Per-joint maps</h2><div>' + joint_figs + '</div>' if joint_figs else ''}
{'<h2>Indices (FI, LI, DI)</h2>' + idx if idx else ''}
{'<h2>Deletion / insertion</h2>' + curves if curves else ''}
{_faithfulness_section(m)}
</body></html>"""


def write_report(res, path, alpha: float = 0.5, cmap: str = "jet") -> None:
    from ..atomic import write_text

    write_text(path, html_report(res, alpha, cmap))
