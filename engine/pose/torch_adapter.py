"""A user's own torch keypoint network as a pose adapter: heatmap or coordinate outputs.

Top-down keypoint networks differ mainly in the two ends: how the person crop is resized into the
network and how the output is decoded back to image pixels. This class owns both, so a user supplies
only the network — a TorchScript file (`run pose --model net.pt --model-output heatmaps`) or a Python
adapter file that subclasses it and overrides `build_model()` (`--model my_adapter.py`).

Preprocessing: the crop (whole image or a person box with margin) is letterboxed into `input_size`
(H, W) keeping its aspect ratio, scaled to [0, 1] and normalised with `mean`/`std`.
Outputs accepted:
* `heatmaps`: (1, J, h, w); peak = argmax refined by a quarter pixel towards the higher neighbour (the
  usual SimpleBaseline/HRNet decoding); confidence = peak value clipped to [0, 1].
* `coords`: (1, J, 2) or (1, J, 3) — x, y in network-input pixels (or in [0, 1] when
  `normalized_coords`), optional third column = confidence.
"""
from __future__ import annotations

import numpy as np

from ..adapters import register_adapter
from ..errors import InputError
from .types import PerImagePredictor, Person


@register_adapter("pose", "torchscript")
class TorchKeypointAdapter(PerImagePredictor):
    output = "heatmaps"
    joint_set = "coco17"
    input_size: tuple[int, int] = (256, 192)
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)
    normalized_coords = False
    checkpoint: str | None = None
    margin = 0.25

    def __init__(self, output: str | None = None, joint_set: str | None = None,
                 input_size: tuple[int, int] | None = None):
        if output:
            self.output = output
        if joint_set:
            from .joints import get_joint_set

            try:
                self.joint_set = get_joint_set(joint_set).name
            except KeyError as e:
                raise InputError(None, str(e)) from None
        if input_size:
            self.input_size = tuple(input_size)
        if self.output not in ("heatmaps", "coords"):
            raise InputError(None, f"model output must be 'heatmaps' or 'coords', not {self.output!r}")
        self.model = None
        self.device = "cpu"

    # ------------------------------------------------------------------ override points
    def build_model(self):
        """Return a torch.nn.Module (subclasses); the default loads `checkpoint` as TorchScript."""
        if not self.checkpoint:
            raise InputError(None, "a torch keypoint adapter needs a TorchScript file (--model net.pt) "
                                   "or a subclass that implements build_model()")
        import torch

        return torch.jit.load(self.checkpoint, map_location="cpu")

    # ------------------------------------------------------------------ protocol
    def load(self, spec: str | None, device: str = "cpu") -> None:
        if spec:
            self.checkpoint = spec
        self.model = self.build_model()
        self.device = device
        self.model = self.model.to(device).eval()  # inference runs under no_grad (never switched off globally)

    def _letterbox(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        import cv2

        h, w = rgb.shape[:2]
        H, W = self.input_size
        s = min(H / h, W / w)
        nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
        canvas = np.zeros((H, W, 3), np.float32)
        oy, ox = (H - nh) // 2, (W - nw) // 2
        canvas[oy:oy + nh, ox:ox + nw] = cv2.resize(rgb[..., :3], (nw, nh), interpolation=cv2.INTER_LINEAR) / 255.0
        canvas = (canvas - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return canvas, s, ox, oy

    def _decode(self, out, s: float, ox: float, oy: float) -> tuple[np.ndarray, np.ndarray]:
        import torch

        if isinstance(out, (tuple, list)):
            out = out[0]
        if isinstance(out, dict):
            out = next(iter(out.values()))
        a = out.detach().float().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out, float)
        H, W = self.input_size
        if self.output == "heatmaps":
            if a.ndim != 4:
                raise InputError(None, f"heatmap model must return (1, J, h, w), got shape {a.shape}")
            hm = a[0]
            j, h, w = hm.shape
            flat = hm.reshape(j, -1).argmax(1)
            py, px = (flat // w).astype(float), (flat % w).astype(float)
            conf = hm.reshape(j, -1).max(1)
            for k in range(j):
                x, y = int(px[k]), int(py[k])
                if 0 < x < w - 1:
                    px[k] += 0.25 * np.sign(hm[k, y, x + 1] - hm[k, y, x - 1])
                if 0 < y < h - 1:
                    py[k] += 0.25 * np.sign(hm[k, y + 1, x] - hm[k, y - 1, x])
            # heatmap cell centres → network-input pixels
            xs, ys = (px + 0.5) * (W / w) - 0.5, (py + 0.5) * (H / h) - 0.5
        else:
            a = a.reshape(a.shape[-2], a.shape[-1]) if a.ndim == 3 else a
            if a.ndim != 2 or a.shape[1] not in (2, 3):
                raise InputError(None, f"coordinate model must return (1, J, 2|3), got shape {a.shape}")
            xs, ys = a[:, 0].astype(float), a[:, 1].astype(float)
            if self.normalized_coords:
                xs, ys = xs * W, ys * H
            conf = a[:, 2] if a.shape[1] == 3 else np.ones(len(a))
        kp = np.stack([(xs - ox) / s, (ys - oy) / s], 1)
        return kp, np.clip(conf, 0.0, 1.0)

    def _run_crop(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        x, s, ox, oy = self._letterbox(crop)
        t = torch.from_numpy(x).permute(2, 0, 1)[None].to(self.device)
        with torch.no_grad():
            out = self.model(t)
        return self._decode(out, s, ox, oy)

    def predict_image(self, rgb: np.ndarray, boxes: np.ndarray | None = None) -> list[Person]:
        if self.model is None:
            raise RuntimeError("adapter not loaded")
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        h, w = rgb.shape[:2]
        if boxes is None or len(boxes) == 0:
            kp, c = self._run_crop(rgb)
            return [Person(kp, c, self.joint_set).with_coco()] if self.joint_set in ("coco17", "mediapipe33") \
                else [Person(kp, c, self.joint_set)]
        out = []
        for x, y, bw, bh in np.asarray(boxes, float):
            cx, cy = x + bw / 2, y + bh / 2
            hw, hh = bw * (1 + 2 * self.margin) / 2, bh * (1 + 2 * self.margin) / 2
            x0, y0 = int(max(0, cx - hw)), int(max(0, cy - hh))
            x1, y1 = int(min(w, np.ceil(cx + hw))), int(min(h, np.ceil(cy + hh)))
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            kp, c = self._run_crop(rgb[y0:y1, x0:x1])
            p = Person(kp + (x0, y0), c, self.joint_set, box_hint=np.array([x, y, bw, bh]))
            out.append(p.with_coco() if self.joint_set in ("coco17", "mediapipe33") else p)
        return out
