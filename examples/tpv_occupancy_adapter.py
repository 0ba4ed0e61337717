"""A complete occupancy model adapter: a small TPV-style (tri-perspective view) network on six cameras.

This file is the worked example of the adapter contract (docs/occupancy-adapters.md); the test suite runs it
end to end (`tests/occupancy/test_adapter_example.py`). Use it as a template for your own model:

    python main.py run occupancy scene.json --model examples/tpv_occupancy_adapter.py \
        --checkpoint tpv_tiny.pt --out pred.npz

Contract
--------
* `load(spec, device)`: `spec` is the `--checkpoint` path (or None) and `device` "cpu" / "cuda". Build the
  network, load weights, move it to the device. Raise any exception for a bad checkpoint: the CLI reports it
  as one line naming the file (exit 2).
* `predict(inputs, progress, cancel)`: `inputs` is a dict
    - "scene": the loaded Scene; its `CameraRig` layer (`layer.kind == "cameras"`) holds the cameras, each
      with `image` (H×W×3 uint8 RGB), `K` (3×3), `cam_to_frame` (4×4, camera → scene frame; for nuScenes
      info files the scene frame is the ego frame, the Occ3D grid's frame), `name`, `size` (W, H);
      a scene may hold cameras only (no point cloud).
    - "grid": the target GridSpec: `shape` (X, Y, Z), `origin`, `voxel_size` (metres, per axis), `free_label`,
      `label_set`, `frame`. Voxel (i, j, k) spans origin + [i, i+1)·voxel_size along x, and so on.
    - "scans", "scenes", "current": the LiDAR inputs of LiDAR models (empty lists for camera-only runs).
  `progress(fraction, message)` reports progress and is also a cancellation point (it raises when the user
  cancelled); `cancel` is a threading.Event for loops that want to check it themselves.
  Return one of: a uint8/int label grid of `grid.shape`; a dict {"labels": grid, "scores": float grid of
  the same shape (per-voxel confidence, optional)}; or an engine.scene.VoxelGrid. Tensors are accepted.

The network (TPVFormer's structure at toy size, see specs/occupancy.md §2): a tiny CNN gives per-camera
feature maps; three learned plane queries (HW = BEV, ZH, WZ) gather image features at the projections of
their pillar points (average over the cameras that see a point, `grid_sample` with align_corners=False);
each voxel's feature is the broadcast sum hw[y, x] + zh[z, y] + wz[x, z]; an MLP head gives class logits.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class TinyTPV(nn.Module):
    def __init__(self, n_classes: int = 18, dim: int = 16, plane=(25, 25, 4), pillar: int = 4):
        super().__init__()
        self.X, self.Y, self.Z = plane
        self.pillar = pillar
        self.backbone = nn.Sequential(nn.Conv2d(3, dim, 5, stride=4, padding=2), nn.ReLU(),
                                      nn.Conv2d(dim, dim, 3, stride=2, padding=1), nn.ReLU())
        self.hw = nn.Parameter(torch.zeros(self.Y, self.X, dim))
        self.zh = nn.Parameter(torch.zeros(self.Z, self.Y, dim))
        self.wz = nn.Parameter(torch.zeros(self.X, self.Z, dim))
        self.head = nn.Sequential(nn.Linear(dim, 2 * dim), nn.Softplus(), nn.Linear(2 * dim, n_classes))

    def plane_points(self, lo, hi):
        """Pillar points (metres) of each plane cell: HW cells sample `pillar` heights, ZH cells x, WZ cells y."""
        def centres(n, a):
            return lo[a] + (torch.arange(n, dtype=torch.float32) + 0.5) / n * (hi[a] - lo[a])

        xs, ys, zs = centres(self.X, 0), centres(self.Y, 1), centres(self.Z, 2)
        px, py, pz = centres(self.pillar, 0), centres(self.pillar, 1), centres(self.pillar, 2)
        hw = torch.stack(torch.meshgrid(ys, xs, pz, indexing="ij"), -1)[..., [1, 0, 2]]  # (Y, X, P, xyz)
        zh = torch.stack(torch.meshgrid(zs, ys, px, indexing="ij"), -1)[..., [2, 1, 0]]  # (Z, Y, P, xyz)
        wz = torch.stack(torch.meshgrid(xs, zs, py, indexing="ij"), -1)[..., [0, 2, 1]]  # (X, Z, P, xyz)
        return hw, zh, wz

    def sample(self, feats, pts, cams):
        """Mean image feature over the cameras (and pillar points) that see each plane cell."""
        shape = pts.shape[:-2]
        p = pts.reshape(-1, 3)
        acc = torch.zeros(p.shape[0], feats[0].shape[0])
        hits = torch.zeros(p.shape[0], 1)
        for f, (K, world_to_cam, (W, H)) in zip(feats, cams):
            pc = p @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
            z = pc[:, 2:3]
            uv = (pc @ K.T)[:, :2] / z.clamp_min(1e-5)
            ok = (z[:, 0] > 1e-5) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
            g = torch.stack([uv[:, 0] / W * 2 - 1, uv[:, 1] / H * 2 - 1], -1)
            s = F.grid_sample(f[None], g[None, :, None], align_corners=False)[0, :, :, 0].T  # (N, C)
            acc += s * ok[:, None]
            hits += ok[:, None].float()
        out = acc / hits.clamp_min(1)
        return out.reshape(*shape, self.pillar, -1).mean(-2)

    def forward(self, images, cams, lo, hi, progress=None):
        feats = []
        for i, img in enumerate(images):
            feats.append(self.backbone(img[None])[0])
            if progress:
                progress(0.1 + 0.5 * (i + 1) / len(images), f"camera {i + 1}/{len(images)}")
        hw_p, zh_p, wz_p = self.plane_points(lo, hi)
        hw = self.hw + self.sample(feats, hw_p, cams)  # (Y, X, C)
        zh = self.zh + self.sample(feats, zh_p, cams)  # (Z, Y, C)
        wz = self.wz + self.sample(feats, wz_p, cams)  # (X, Z, C)
        return self.head(self.aggregate(hw, zh, wz))  # (X, Y, Z, classes)

    @staticmethod
    def aggregate(hw, zh, wz):
        """Voxel (x, y, z) = hw[y, x] + zh[z, y] + wz[x, z], broadcast to (X, Y, Z, C)."""
        return hw.permute(1, 0, 2)[:, :, None, :] + zh.permute(1, 0, 2)[None, :, :, :] + wz[:, None, :, :]


class TPVOccupancyAdapter:
    """The adapter: images of all cameras in, an Occ3D-style label grid (+ per-voxel confidence) out."""

    def load(self, spec, device):
        self.device = device
        torch.manual_seed(0)
        self.net = TinyTPV()
        if spec:
            state = torch.load(spec, map_location="cpu", weights_only=True)  # weights only: no code runs
            self.net.load_state_dict(state)
        self.net.to(device).eval()

    @torch.no_grad()
    def predict(self, inputs, progress, cancel):
        grid = inputs["grid"]
        rig = next(lay for lay in inputs["scene"].layers if lay.kind == "cameras")
        images, cams = [], []
        for cam in rig.cameras:
            img = torch.as_tensor(np.ascontiguousarray(cam.image), dtype=torch.float32).permute(2, 0, 1) / 255.0
            images.append(img.to(self.device))
            w2c = torch.as_tensor(np.linalg.inv(cam.cam_to_frame), dtype=torch.float32)
            cams.append((torch.as_tensor(cam.K, dtype=torch.float32), w2c, (img.shape[2], img.shape[1])))
        progress(0.05, f"{len(images)} cameras")
        lo = torch.tensor(grid.origin, dtype=torch.float32)
        hi = lo + torch.tensor(grid.voxel_size, dtype=torch.float32) * torch.tensor(grid.shape, dtype=torch.float32)
        logits = self.net(images, cams, lo, hi, progress)  # (25, 25, 4, C) on the coarse TPV grid
        # upsample the coarse logits to the target grid (nearest), then arg-max
        up = F.interpolate(logits.permute(3, 0, 1, 2)[None], size=tuple(grid.shape), mode="nearest")[0]
        prob = up.softmax(0)
        conf, labels = prob.max(0)
        progress(1.0, "done")
        return {"labels": labels.to(torch.uint8), "scores": conf}
