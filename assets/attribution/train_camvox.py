"""Train the built-in CamVox voxel model on the demo keyframe and write assets/attribution/camvox.pt.

Run from the repo root: `python assets/attribution/train_camvox.py` (≈1 min on 2 CPU cores, no download).

Data: the demo scene (assets/demo/scene.json): LiDAR voxelised on the Occ3D grid (0.4 m), six cameras.
Labels: per-voxel majority of the per-point classes; the demo's classes come from annotated 3D boxes, so
voxels whose points lie outside every box are "background". Classes with fewer than MIN_VOXELS voxels
are folded into background.
Split: spatial 4 m × 4 m tiles, one in five held out (whole tiles, so a car is not split between train
and test by neighbouring voxels). The frozen image backbone runs once; only the heads are trained, on
balanced mini-batches with random x/y flips of the occupancy neighbourhoods.
This is ONE scene: held-out accuracy says the model generalises across places in this scene, nothing more.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MIN_VOXELS = 3
TILE = 10  # voxels (4 m)
ITERS = 300
BATCH = 768
DROP = 0.3  # modality dropout: each branch is zeroed for this share of a batch
SEED = 0


def tile_split(index: np.ndarray) -> np.ndarray:
    """True for held-out voxels: whole 8 m tiles, one in five (fixed hash of the tile coordinates)."""
    t = index[:, :2] // TILE
    return ((t[:, 0] * 7 + t[:, 1] * 13) % 5) == 0


def scores(pred: np.ndarray, y: np.ndarray, names: list[str]) -> dict:
    rec = {}
    for k, n in enumerate(names):
        m = y == k
        if m.any():
            rec[n] = float((pred[m] == k).mean())
    return {"accuracy": float((pred == y).mean()), "mean_class_recall": float(np.mean(list(rec.values()))),
            "recall": rec, "voxels": int(len(y)), "per_class": {n: int((y == k).sum()) for k, n in enumerate(names)}}


def main() -> dict:
    import torch

    import scenelens.engine.io as eio
    from scenelens.engine.attribution.camvox import (CamVoxNet, build_heads, gather_patches, inputs_from_scene, make_query)
    from scenelens.engine.labels import get_label_set

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    scene = eio.load(ROOT / "assets" / "demo" / "scene.json")
    inp = inputs_from_scene(scene)
    idx = np.argwhere(inp.occ > 0)
    lab = inp.grid.labels[tuple(idx.T)].astype(int)
    names_occ = get_label_set("occ3d")
    present, counts = np.unique(lab[lab != 255], return_counts=True)
    keep = [int(c) for c, n in zip(present, counts) if n >= MIN_VOXELS]
    classes = [{"name": "background", "occ3d_id": 0}] + [{"name": names_occ.name_of(c), "occ3d_id": c} for c in keep]
    to_model = {c: i + 1 for i, c in enumerate(keep)}
    y = np.array([to_model.get(int(v), 0) for v in lab])
    names = [c["name"] for c in classes]
    print("classes:", {n: int((y == k).sum()) for k, n in enumerate(names)})

    cfg = {"img_feat": 16, "ctx": 8, "hidden": 32}
    heads = build_heads(len(classes), **cfg)
    model = CamVoxNet(heads, classes, cfg)
    q = make_query(inp.grid, idx, inp.rig.cameras)
    with torch.no_grad():
        fm = model.raw_image_maps(inp.image_tensor())
        raw = model.sample_raw(fm, q)[0]                      # V×40 (frozen, computed once)
        patches = gather_patches(inp.occ_tensor(), idx)[0]    # V×1×7×7×7
    extra = torch.as_tensor(q.extra)
    yt = torch.as_tensor(y)
    held = tile_split(idx)
    tr = np.flatnonzero(~held)
    print(f"{len(idx)} occupied voxels, {len(tr)} train / {held.sum()} held out; features in "
          f"{time.perf_counter() - t0:.1f} s")

    heads.train()
    for p in heads.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(heads.parameters(), lr=3e-3, weight_decay=1e-4)
    # balanced batches: half background, half spread evenly over the object classes
    by_class = [tr[y[tr] == k] for k in range(len(classes))]

    def fwd(sel, aug=False, no_img=False, no_occ=False):
        p = patches[sel]
        r = raw[sel]
        if aug:
            if rng.random() < 0.5:
                p = p.flip(2)
            if rng.random() < 0.5:
                p = p.flip(3)
            # modality dropout, so that both the images and the occupancy carry the decision
            u = torch.as_tensor(rng.random(len(sel)), dtype=torch.float32)[:, None]
            r = r * (u >= DROP)
            p = p * ((u < DROP) | (u >= 2 * DROP))[:, :, None, None, None]
        if no_img:
            r = torch.zeros_like(r)
        if no_occ:
            p = torch.zeros_like(p)
        ctx = heads["occ"](p)
        z = torch.cat([heads["reduce"](r), ctx, extra[sel]], 1)
        return heads["head"](z)

    for it in range(ITERS):
        parts = [rng.choice(by_class[0], BATCH // 2)]
        obj = [c for c in by_class[1:] if len(c)]
        for c in obj:
            parts.append(rng.choice(c, BATCH // 2 // len(obj)))
        sel = np.concatenate(parts)
        loss = torch.nn.functional.cross_entropy(fwd(sel, True), yt[sel])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 100 == 0:
            print(f"iter {it} loss {loss.item():.4f}")
    heads.eval()
    with torch.no_grad():
        pred = fwd(np.arange(len(idx))).argmax(1).numpy()
    m_train, m_held = scores(pred[~held], y[~held], names), scores(pred[held], y[held], names)
    print("train   ", json.dumps({k: m_train[k] for k in ("accuracy", "mean_class_recall", "recall")}))
    print("held-out", json.dumps({k: m_held[k] for k in ("accuracy", "mean_class_recall", "recall")}))
    with torch.no_grad():
        ablate = {k: scores(fwd(np.flatnonzero(held), **{k: True}).argmax(1).numpy(), y[held], names)
                  for k in ("no_img", "no_occ")}
    print("held-out without images:", ablate["no_img"]["mean_class_recall"],
          "without occupancy:", ablate["no_occ"]["mean_class_recall"])
    metrics = {"train": m_train, "held_out": m_held, "held_out_no_images": ablate["no_img"],
               "held_out_no_occupancy": ablate["no_occ"], "seconds": time.perf_counter() - t0,
               "split": "4 m tiles, 1 in 5 held out", "scene": "assets/demo/scene.json"}
    state = {k: v.detach().clone() for k, v in heads.state_dict().items()}
    out = ROOT / "assets" / "attribution" / "camvox.pt"
    torch.save({"heads": state, "classes": classes, "config": cfg, "metrics": json.loads(json.dumps(metrics))}, out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB) in {time.perf_counter() - t0:.1f} s")
    return metrics


if __name__ == "__main__":
    import torch

    torch.set_num_threads(2)
    main()
