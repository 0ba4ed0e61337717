"""Small shared pieces of the attribution methods: image loading, blur, map reduction and colouring.

They are kept here (not in each method) so that IG, PoseIG, occlusion and the faithfulness curves use
exactly the same blur, the same channel reduction and the same display normalisation — otherwise a map
and its deletion curve could disagree for reasons that have nothing to do with the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError, JobCancelled

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str = "") -> None:  # noqa: ARG001
    return None


def check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise JobCancelled("cancelled")


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as H×W×3 uint8 RGB; bad files raise InputError naming the file."""
    import cv2

    from ..io.limits import check_image_header, check_readable, quiet_native_stderr

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "image file does not exist")
    check_readable(p)
    check_image_header(p)  # pixel limit from the header, before decoding
    data = np.fromfile(str(p), dtype=np.uint8)
    img = None
    if data.size:
        try:
            with quiet_native_stderr():
                img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error:
            img = None
    if img is None:
        raise InputError(p, "not a readable image (OpenCV could not decode it)")
    if img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if min(img.shape[:2]) < 8:
        raise InputError(p, f"image is too small ({img.shape[1]}×{img.shape[0]})")
    return np.ascontiguousarray(img)


def load_user_module(path: str | Path, device: str = "cpu", freeze: bool = True, hint: str = "",
                     trust: bool | None = None):
    """A user's model file: TorchScript, or a whole `torch.save`d nn.Module only when the user trusted the file
    (`trust`, `--trust-model`, or `engine.trust.trust_model_file`), since unpickling it can run any code. The
    module comes back in eval mode, parameters frozen unless `freeze` is False. Weights alone (a state_dict or
    .safetensors) cannot run and are refused; every failure is an InputError naming the file (`hint` is appended
    to the "does not exist" message)."""
    from ..trust import load_model_file

    p = Path(path)
    if not p.is_file():
        raise InputError(p, f"model file does not exist{f' ({hint})' if hint else ''}")
    module = load_model_file(p, device, trust)
    if not callable(module) or isinstance(module, dict):
        raise InputError(p, "file holds weights but no runnable module (a state_dict or .safetensors alone cannot "
                            "be run): save it as TorchScript, or pass an adapter .py with build_model() as --model "
                            "and this file as --weights")
    module.eval()
    if freeze:
        for prm in getattr(module, "parameters", lambda: [])():
            prm.requires_grad_(False)
    return module


MODEL_CONTRACT = """\
A model for attribution is one of
  * a TorchScript file (torch.jit.script/trace(model).save("m.pt")) — no Python code needed;
  * an adapter .py defining build_model() -> torch.nn.Module (the architecture), with the weights in
    --weights FILE (a state_dict saved with torch.save, or .safetensors; loaded as data, strict key match) or
    loaded by build_model() itself (a WEIGHTS = "file" constant beside it is used when --weights is absent);
  * a whole torch.save'd module, only with --trust-model (unpickling runs code)."""


def _import_adapter(path: Path):
    from ..adapters import import_user_file

    return import_user_file(path, "scenelens_attr_adapter")


def load_weights_into(module, weights: str | Path, label) -> None:
    """Load a state_dict / .safetensors file (as data) into `module`; a mismatch names the keys."""
    from ..trust import load_model_file

    wp = Path(weights)
    sd = load_model_file(wp, "cpu", trust=False)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]  # Lightning-style checkpoints
    if not isinstance(sd, dict):
        raise InputError(wp, "weights file holds a whole model, not a state_dict: pass it as --model instead")
    try:
        res = module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = "; ".join(lines[1:4]) if len(lines) > 1 else lines[0]
        raise InputError(wp, f"weights do not fit the model built by {Path(str(label)).name}: {detail[:400]}") from None
    del res


def load_user_model(spec: str | Path, device: str = "cpu", weights: str | Path | None = None, freeze: bool = True,
                    hint: str = ""):
    """Any model file the attribution tasks take (see `MODEL_CONTRACT`): TorchScript / trusted pickle via
    `load_user_module`, or an adapter .py with build_model() plus optional weights. Eval mode, frozen."""
    p = Path(spec)
    if p.suffix.lower() != ".py":
        if weights is not None:
            raise InputError(weights, "--weights needs an adapter .py as --model (build_model() makes the module "
                                      "the weights are loaded into)")
        return load_user_module(p, device, freeze, hint)
    if not p.is_file():
        raise InputError(p, "adapter file does not exist")
    mod = _import_adapter(p)
    build = getattr(mod, "build_model", None)
    if not callable(build):
        raise InputError(p, "adapter defines no build_model() returning a torch.nn.Module (the weights then come "
                            "from --weights FILE); see README 'Point-cloud and voxel attribution'")
    try:
        module = build()
    except InputError:
        raise
    except Exception as e:
        raise InputError(p, f"build_model() failed: {type(e).__name__}: {e}") from None
    if not callable(module) or not hasattr(module, "eval"):
        raise InputError(p, f"build_model() returned {type(module).__name__}, not a torch.nn.Module")
    if weights is None and getattr(mod, "WEIGHTS", None):
        weights = p.parent / str(mod.WEIGHTS)
    if weights is not None:
        if not Path(weights).is_file():
            raise InputError(weights, "weights file does not exist")
        load_weights_into(module, weights, p)
    module = module.to(device).eval()
    if freeze:
        for prm in module.parameters():
            prm.requires_grad_(False)
    return module


def to_tensor(img: np.ndarray, device: str = "cpu"):
    """H×W×3 uint8/float image → 1×3×H×W float tensor in [0, 1]."""
    import torch

    x = np.asarray(img)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)


def resize(img: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize to (width, height); area interpolation when shrinking (no aliasing), linear otherwise."""
    import cv2

    w, h = size
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if (w < img.shape[1] and h < img.shape[0]) else cv2.INTER_LINEAR
    return cv2.resize(img, (int(w), int(h)), interpolation=interp)


def gaussian_kernel(sigma: float, size: int):
    import torch

    if sigma <= 0:
        k = torch.zeros(size, dtype=torch.float64)
        k[size // 2] = 1.0
        return k
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    k = torch.exp(-0.5 * (r / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x, sigma: float, size: int = 31, mode: str = "reflect"):
    """Depth-wise separable Gaussian blur of an N×C×H×W tensor (σ = 0 returns x unchanged).

    Reflect padding as in PoseIG's path; when the image is smaller than the kernel the padding falls back
    to replicate (reflect cannot pad more than the image size).
    """
    import torch
    import torch.nn.functional as F

    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma, size).to(dtype=x.dtype, device=x.device)
    c = x.shape[1]
    pad = size // 2
    m = mode if (mode != "reflect" or min(x.shape[-2:]) > pad) else "replicate"
    y = F.pad(x, (pad, pad, 0, 0), mode=m)
    y = F.conv2d(y, k.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)
    y = F.pad(y, (0, 0, pad, pad), mode=m)
    y = F.conv2d(y, k.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)
    return y


def reduce_channels(attr: np.ndarray, how: str = "sum") -> np.ndarray:
    """C×H×W (or N×C×H×W) attributions → H×W map: `sum` keeps the sign, `abs` sums magnitudes."""
    a = np.asarray(attr)
    axis = -3
    if how == "sum":
        return a.sum(axis=axis)
    if how == "abs":
        return np.abs(a).sum(axis=axis)
    raise ValueError(f"unknown channel reduction {how!r}")


OUTLIER_PERC = 2.0  # captum's visualiser default: the largest 2 % of the attribution mass saturate


def display_scale(m: np.ndarray, outlier_perc: float = OUTLIER_PERC) -> float:
    """The |value| that maps to full colour: captum's `_cumulative_sum_threshold` — sort |m|, take the
    value where the cumulative sum first reaches (100 − outlier_perc) % of the total (0 → the maximum).
    A max-scaled IG map is dominated by a few spiky pixels; this clips them as captum's visualiser does."""
    v = np.sort(np.abs(np.asarray(m, np.float64)).reshape(-1))
    if v.size == 0 or v[-1] <= 0:
        return 0.0
    if outlier_perc <= 0:
        return float(v[-1])
    cs = np.cumsum(v)
    i = int(np.searchsorted(cs, cs[-1] * 0.01 * (100.0 - outlier_perc)))
    return float(v[min(i, v.size - 1)])


def normalize_map(m: np.ndarray, signed: bool = False, outlier_perc: float = OUTLIER_PERC) -> np.ndarray:
    """For display: signed maps → [-1, 1], unsigned → [0, 1] (|·| taken first), divided by `display_scale`
    and clipped (captum's `visualize_image_attr` normalisation; outlier_perc = 0 divides by the max)."""
    m = np.asarray(m, dtype=np.float64)
    s = display_scale(m, outlier_perc)
    if signed:
        return (np.clip(m / s, -1, 1) if s > 0 else m).astype(np.float32)
    m = np.abs(m)
    return (np.clip(m / s, 0, 1) if s > 0 else m).astype(np.float32)


def cmap_for(cmap: str, signed: bool) -> str:
    """Signed maps need a diverging map centred on 0 (blue = against, red = for the target)."""
    from matplotlib import colormaps

    if signed and cmap in ("jet", "inferno", "viridis", "magma", "turbo", "gray"):
        return "RdBu_r"
    return cmap if cmap in colormaps else "jet"


def colorize(m: np.ndarray, cmap: str = "jet", signed: bool = False, outlier_perc: float = OUTLIER_PERC) -> np.ndarray:
    """Map → H×W×3 uint8 colours. Signed maps use a diverging map centred on 0."""
    from matplotlib import colormaps

    n = normalize_map(m, signed, outlier_perc)
    cm = colormaps[cmap_for(cmap, signed)]
    v = (n + 1.0) / 2.0 if signed else n
    return (cm(v)[..., :3] * 255 + 0.5).astype(np.uint8)


def colorbar(cmap: str, signed: bool, scale: float, width: int = 360, height: int = 46) -> np.ndarray:
    """H×W×3 uint8 colour bar with its value ticks (−scale, 0, +scale or 0, scale/2, scale): the key every
    exported map carries (values beyond ±scale saturate, see `display_scale`)."""
    from matplotlib import colormaps

    cm = colormaps[cmap_for(cmap, signed)]
    pad = 8
    ramp = np.linspace(0, 1, width - 2 * pad)
    return colorbar_image((cm(ramp)[:, :3] * 255 + 0.5).astype(np.uint8), scale, signed, width, height)


def colorbar_image(colours: np.ndarray, scale: float, signed: bool, width: int, height: int) -> np.ndarray:
    """White H×W×3 key: the (width − 16)×3 uint8 `colours` as a bar, ticks and values under it (−scale, 0,
    +scale or 0, scale/2, scale). Shared by every exported colour bar so their keys read the same."""
    import cv2

    img = np.full((height, width, 3), 255, np.uint8)
    pad, bar_h = 8, height // 2
    img[2:2 + bar_h, pad:width - pad] = colours[None]
    ticks = [(-scale, 0.0), (0.0, 0.5), (scale, 1.0)] if signed else [(0.0, 0.0), (scale / 2, 0.5), (scale, 1.0)]
    for val, f in ticks:
        x = int(pad + f * (width - 2 * pad - 1))
        img[2 + bar_h:5 + bar_h, max(0, x - 1):x + 1] = 0
        txt = f"{val:.3g}"
        (tw, _), _ = cv2.getTextSize(txt, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)
        cv2.putText(img, txt, (int(np.clip(x - tw / 2, 0, width - tw)), height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return img


def overlay(img: np.ndarray, m: np.ndarray, alpha: float = 0.5, cmap: str = "jet", signed: bool = False,
            outlier_perc: float = OUTLIER_PERC) -> np.ndarray:
    """Blend a map (resized to the image) over an RGB image; `alpha` is the map's opacity."""
    if m.shape[:2] != img.shape[:2]:
        m = resize(m.astype(np.float32), (img.shape[1], img.shape[0]))
    col = colorize(m, cmap, signed, outlier_perc).astype(np.float32)
    base = img.astype(np.float32) if img.dtype == np.uint8 else img.astype(np.float32) * 255
    if signed:  # a diverging map is white at 0: blend by |value| so neutral pixels show the photo, not a veil
        w = alpha * np.clip(2.0 * np.abs(normalize_map(m, True, outlier_perc)), 0, 1)[..., None]
        return np.clip((1 - w) * base + w * col, 0, 255).astype(np.uint8)
    return np.clip((1 - alpha) * base + alpha * col, 0, 255).astype(np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def save_png(path: str | Path, rgb: np.ndarray) -> None:
    from ..atomic import write_bytes

    write_bytes(path, encode_png(rgb))
