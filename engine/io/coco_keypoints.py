"""COCO keypoint JSON: ground-truth files (`images`/`annotations`/`categories`) and result lists
(`[{image_id, category_id, keypoints, score}]`), read into Skeleton layers and written back.

One Skeleton layer holds the people of one image (T = 1) or of the frames of one video (T frames); its
joints are (T×P×17×2) pixels, `confidence` the per-keypoint score (GT: 1 where labelled), and
`meta['visibility']` the COCO v flags (0 not labelled, 1 labelled but hidden, 2 visible) that editing
changes. Everything else COCO needs to round-trip (ids, boxes, areas, iscrowd, scores) lives in `meta`
so an edited file exports back valid for pycocotools.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..scene import ImageLayer, Layer, Skeleton
from . import register

MAX_IMAGE_LAYERS = 16  # a 5000-image val set must not decode every image on open


def read_json(path: Path) -> Any:
    from .limits import load_json

    if not Path(path).exists():
        raise InputError(path, "no such file")
    return load_json(path, what="COCO JSON")  # size and depth limits, BOM accepted


def _kp_array(path, ann: dict, n_kp: int) -> np.ndarray:
    kp = ann.get("keypoints")
    if kp is None:
        raise InputError(path, f"annotation {ann.get('id', '?')} has no 'keypoints'")
    a = np.asarray(kp, float)
    if a.size != 3 * n_kp:
        raise InputError(path, f"annotation {ann.get('id', '?')} of image {ann.get('image_id')} has "
                               f"{a.size} keypoint values, expected {3 * n_kp} (x,y,v × {n_kp})")
    return a.reshape(n_kp, 3)


def _person_layer(name: str, source: str, frames: list[list[dict]], kps: list[list[np.ndarray]], kind: str,
                  n_kp: int, image_ids: list, file_names: list[str], sizes: list,
                  track_ids: list[int] | None = None) -> Skeleton:
    """`track_ids`: one person slot per track (PoseTrack-style results), else people in file order."""
    t = len(frames)
    p = len(track_ids) if track_ids else max([len(f) for f in frames] + [0])
    joints = np.zeros((t, p, n_kp, 2))
    vis = np.zeros((t, p, n_kp), np.int8)
    conf = np.zeros((t, p, n_kp))
    bbox = np.zeros((t, p, 4))
    area = np.zeros((t, p))
    score = np.zeros((t, p))
    iscrowd = np.zeros((t, p), np.int8)
    ann_id = np.full((t, p), -1, np.int64)
    valid = np.zeros((t, p), bool)
    seg: list[list] = [[None] * p for _ in range(t)]  # COCO segmentation per person, kept as read
    for i, (anns, arrs) in enumerate(zip(frames, kps)):
        for j0, (a, k) in enumerate(zip(anns, arrs)):
            j = track_ids.index(a["track_id"]) if track_ids else j0
            valid[i, j] = True
            if a.get("segmentation") is not None:
                seg[i][j] = a["segmentation"]
            joints[i, j] = k[:, :2]
            v = np.clip(np.round(k[:, 2]), 0, 2).astype(np.int8)
            if kind == "pred":
                v = np.where(v > 0, v, 2).astype(np.int8)  # results carry no flags; v is ignored by COCOeval
            vis[i, j] = v
            ks = a.get("keypoint_scores")
            if kind == "pred":
                conf[i, j] = np.asarray(ks, float) if ks is not None and len(ks) == n_kp else float(a.get("score", 1.0))
            else:
                conf[i, j] = (v > 0).astype(float)
            if "bbox" in a and len(a["bbox"]) == 4:
                bbox[i, j] = a["bbox"]
            else:
                lab = v > 0
                if lab.any():
                    lo, hi = k[lab, :2].min(0), k[lab, :2].max(0)
                    bbox[i, j] = [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]
            area[i, j] = float(a.get("area", bbox[i, j, 2] * bbox[i, j, 3]))
            score[i, j] = float(a.get("score", 1.0))
            iscrowd[i, j] = int(a.get("iscrowd", 0))
            ann_id[i, j] = int(a.get("id", -1))
    from ..pose.joints import COCO17
    sk = Skeleton(name=name, source=source, joints=joints, confidence=conf, joint_set="coco17" if n_kp == 17 else f"coco{n_kp}",
                  joint_names=list(COCO17.names) if n_kp == 17 else [f"kp{i}" for i in range(n_kp)],
                  bones=list(COCO17.bones) if n_kp == 17 else [],
                  image_size=sizes[0] if sizes and sizes[0] else None)
    sk.meta.update({"format": "coco", "kind": kind, "visibility": vis, "bbox": bbox, "area": area, "score": score,
                    "iscrowd": iscrowd, "ann_id": ann_id, "valid": valid, "image_ids": list(image_ids),
                    "file_names": list(file_names), "image_sizes": list(sizes)})
    if any(x is not None for row in seg for x in row):
        sk.meta["segmentation"] = seg
    if track_ids:
        sk.meta["track_ids"] = list(track_ids)
    return sk


def gt_to_layers(path: Path, d: dict, with_images: bool | None = None) -> list[Layer]:
    """A COCO ground-truth dict → per image an ImageLayer (when the file is beside the JSON) and a Skeleton."""
    if not isinstance(d.get("images"), list) or not isinstance(d.get("annotations"), list):
        raise InputError(path, "COCO file needs 'images' and 'annotations' lists")
    cats = [c for c in d.get("categories", []) if "keypoints" in c]
    n_kp = len(cats[0]["keypoints"]) if cats else 17
    kp_cat = {c["id"] for c in cats} or {1}
    by_img: dict[Any, list[dict]] = {}
    for a in d["annotations"]:
        if not isinstance(a, dict) or "image_id" not in a:
            raise InputError(path, "an annotation lacks 'image_id'")
        if a.get("category_id", 1) in kp_cat and "keypoints" in a:
            by_img.setdefault(a["image_id"], []).append(a)
    base = path.parent
    if with_images is None:
        with_images = len(d["images"]) <= MAX_IMAGE_LAYERS
    layers: list[Layer] = []
    for im in d["images"]:
        if "id" not in im:
            raise InputError(path, "an image entry lacks 'id'")
        anns = by_img.get(im["id"], [])
        fname = im.get("file_name", str(im["id"]))
        if not isinstance(fname, str):
            raise InputError(path, f"image {im['id']!r:.40}: file_name must be a string")
        from .limits import resolve_inside

        img_path = resolve_inside(path, fname, f"image {im['id']!r:.40} file_name", must_exist=False)
        size = (int(im["width"]), int(im["height"])) if "width" in im and "height" in im else None
        if with_images and img_path.is_file():
            from .image import read_image
            layers.append(ImageLayer(name=fname, source=str(img_path), image=read_image(img_path), path=str(img_path)))
        sk = _person_layer(f"{fname} keypoints", str(path), [anns], [[_kp_array(path, a, n_kp) for a in anns]], "gt",
                           n_kp, [im["id"]], [fname], [size])
        sk.meta["image_path"] = str(img_path) if img_path.is_file() else None
        sk.meta["categories"] = d.get("categories", [])
        layers.append(sk)
    return layers


def results_to_layers(path: Path, res: list, n_kp: int = 17, video: str | Path | None = None) -> list[Layer]:
    """A COCO result list → one Skeleton per source (file or video), frames in image-id order. The people of a
    video are drawn on the video the results name (`_result_video`), or on `video` when the user gave it."""
    groups: dict[str, dict[Any, list[dict]]] = {}
    for r in res:
        if not isinstance(r, dict) or "image_id" not in r or "keypoints" not in r:
            raise InputError(path, "result entries need 'image_id' and 'keypoints'")
        src = str(r.get("video") or "")
        groups.setdefault(src, {}).setdefault(r["image_id"], []).append(r)
    layers: list[Layer] = []
    shown: set[str] = set()  # videos already added as layers (two sources may resolve to one file)
    for src, by_img in groups.items():
        ids = sorted(by_img, key=lambda k: (by_img[k][0].get("frame", 0), str(k)) if src else str(k))
        if not src:  # still images: one layer each, like ground truth
            for iid in ids:
                anns = by_img[iid]
                fname = anns[0].get("file_name", str(iid))
                size = tuple(anns[0]["image_size"]) if "image_size" in anns[0] else None
                sk = _person_layer(f"{fname} predictions", str(path), [anns], [[_kp_array(path, a, n_kp) for a in anns]],
                                   "pred", n_kp, [iid], [fname], [size])
                _attach_world(sk, [anns])
                layers.append(sk)
        else:
            frames = [by_img[i] for i in ids]
            size = tuple(frames[0][0]["image_size"]) if "image_size" in frames[0][0] else None
            tracks = None
            if all(isinstance(a.get("track_id"), int) for f in frames for a in f):
                tracks = []
                for f in frames:
                    for a in f:
                        if a["track_id"] not in tracks:
                            tracks.append(a["track_id"])
                if any(len({a["track_id"] for a in f}) != len(f) for f in frames):
                    raise InputError(path, "a track_id appears twice in one frame")
            sk = _person_layer(f"{Path(src).name} predictions", str(path), frames,
                               [[_kp_array(path, a, n_kp) for a in f] for f in frames], "pred", n_kp, ids,
                               [f[0].get("file_name", str(i)) for i, f in zip(ids, frames)], [size] * len(ids),
                               tracks)
            sk.meta["video"] = src
            sk.meta["frames"] = [int(f[0].get("frame", k)) for k, f in enumerate(frames)]
            _attach_world(sk, frames)
            found = Path(video) if video is not None else _result_video(path, src, sk)
            if found is not None:  # the people drawn on their video, as after a run in the window
                from .image import load_video
                from .sanitize import warn

                try:
                    if str(found) not in shown:
                        layers.extend(load_video(found))
                        shown.add(str(found))
                    sk.meta["video"] = str(found)
                except InputError as e:  # the results still open, without their frames
                    warn(path, f"video {src if video is None else str(found)!r:.200} of these results is not shown: "
                              f"{e.message}", sk)
            layers.append(sk)
    return layers


def _result_video(path: Path, src: str, sk: Skeleton) -> Path | None:
    """The video a result list names (`run pose` writes its path as given), under the rule for paths inside
    files: it may not leave the JSON's folder unless outside paths are allowed; else the same file name
    beside the JSON. None (with one warning) when neither is there."""
    from .limits import resolve_inside
    from .sanitize import warn

    why = "not found"
    for rel in dict.fromkeys((src, Path(src).name)):
        try:
            p = resolve_inside(path, rel, "video", must_exist=False)
        except InputError as e:
            why = e.message
            continue
        if p.is_file():
            return p
    warn(path, f"video {src!r:.200} of these results is not shown: {why}", sk)
    return None


def _attach_world(sk: Skeleton, frames: list[list[dict]]) -> None:
    """Results written by `run pose` carry 3-D world landmarks in `extra`; keep them for the 3-D view."""
    first = next((a for f in frames for a in f if "extra" in a and "world" in a["extra"]), None)
    if first is None:
        return
    j = len(first["extra"]["world"])
    t, p = sk.joints.shape[:2]
    world = np.zeros((t, p, j, 3))
    for i, f in enumerate(frames):
        for k, a in enumerate(f):
            w = a.get("extra", {}).get("world")
            if w is not None and len(w) == j:
                world[i, k] = np.asarray(w, float)
    sk.meta["world"] = world
    sk.meta["world_joint_set"] = first["extra"].get("world_joint_set", "mediapipe33")


@register("coco-keypoints", "COCO keypoint JSON (ground truth or results)")
def load_coco(path: Path, **opts) -> list[Layer]:
    d = read_json(path)
    if isinstance(d, list):
        if not d:
            raise InputError(path, "empty COCO result list")
        return results_to_layers(path, d, video=opts.get("video"))
    if isinstance(d, dict):
        return gt_to_layers(path, d, opts.get("with_images"))
    raise InputError(path, "not a COCO keypoint file")


@load_coco.sniffer
def _sniff_coco(p: Path, head: bytes) -> int:
    h = head.lstrip()
    if not h[:1] in (b"{", b"["):
        return 0
    if b'"keypoints"' in head and (b'"image_id"' in head or b'"images"' in head or b'"categories"' in head):
        return 90
    if b'"annotations"' in head and b'"images"' in head:
        return 40
    return 0


# ------------------------------------------------------------------------------------------- writing

def _records(sk: Skeleton) -> list[tuple[int, int]]:
    valid = sk.meta.get("valid")
    t, p = sk.joints.shape[:2]
    return [(i, j) for i in range(t) for j in range(p) if valid is None or bool(valid[i, j])]


def _image_id(sk: Skeleton, i: int):
    ids = sk.meta.get("image_ids") or []
    return ids[i] if i < len(ids) else i


def _visibility(sk: Skeleton) -> np.ndarray:
    v = sk.meta.get("visibility")
    if v is None:
        c = sk.confidence if sk.confidence is not None else np.ones(sk.joints.shape[:3])
        v = np.where(c > 0, 2, 0).astype(np.int8)
    return v


def _kp_list(sk: Skeleton, i: int, j: int, results: bool = False) -> tuple[list[float], np.ndarray]:
    v = _visibility(sk)[i, j]
    xy = sk.joints[i, j, :, :2]
    pred = results and sk.meta.get("kind") == "pred"
    out = []
    for k in range(len(v)):
        # ground truth: v = 0 means "not labelled" (x = y = 0); a prediction keeps its x, y with v = 0 when
        # the joint lies outside the image (COCOeval scores x, y and ignores a result's v)
        if v[k] > 0 or (pred and (xy[k, 0] != 0 or xy[k, 1] != 0)):
            out += [round(float(xy[k, 0]), 2), round(float(xy[k, 1]), 2), int(v[k])]
        else:
            out += [0, 0, 0]
    return out, v


def skeletons_to_gt(skeletons: list[Skeleton], categories: list | None = None) -> dict:
    """COCO ground-truth dict (images, annotations, categories) from 2-D COCO-17 skeletons."""
    from ..pose.joints import COCO17

    cats = categories or [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(COCO17.names),
                           "skeleton": [[a + 1, b + 1] for a, b in COCO17.bones]}]
    images, anns, used_ids = [], [], set()
    next_id = 1 + max([int(a) for sk in skeletons for a in np.ravel(sk.meta.get("ann_id", [-1]))] + [0])
    for sk in skeletons:
        sizes = sk.meta.get("image_sizes") or [sk.image_size] * sk.joints.shape[0]
        names = sk.meta.get("file_names") or []
        for i in range(sk.joints.shape[0]):
            iid = _image_id(sk, i)
            im = {"id": iid, "file_name": names[i] if i < len(names) else f"{iid}.jpg"}
            if i < len(sizes) and sizes[i]:
                im["width"], im["height"] = int(sizes[i][0]), int(sizes[i][1])
            images.append(im)
        for i, j in _records(sk):
            kp, v = _kp_list(sk, i, j)
            lab = v > 0
            bbox = sk.meta.get("bbox")
            box = [float(x) for x in bbox[i, j]] if bbox is not None and np.any(bbox[i, j]) else None
            if box is None and lab.any():
                lo, hi = sk.joints[i, j, lab, :2].min(0), sk.joints[i, j, lab, :2].max(0)
                box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
            box = box or [0.0, 0.0, 0.0, 0.0]
            area = sk.meta.get("area")
            ar = float(area[i, j]) if area is not None and area[i, j] > 0 else box[2] * box[3]
            aid = int(sk.meta["ann_id"][i, j]) if "ann_id" in sk.meta else -1
            if aid < 0 or aid in used_ids:
                aid, next_id = next_id, next_id + 1
            used_ids.add(aid)
            crowd = int(sk.meta["iscrowd"][i, j]) if "iscrowd" in sk.meta else 0
            ann = {"id": aid, "image_id": _image_id(sk, i), "category_id": 1, "keypoints": kp,
                   "num_keypoints": int(lab.sum()), "bbox": [round(b, 2) for b in box], "area": round(ar, 2),
                   "iscrowd": crowd}
            seg = sk.meta.get("segmentation")
            if seg is not None and i < len(seg) and j < len(seg[i]) and seg[i][j] is not None:
                ann["segmentation"] = seg[i][j]
            if sk.meta.get("kind") == "pred":
                score = sk.meta.get("score")
                ann["score"] = round(float(score[i, j]), 5) if score is not None else 1.0
            anns.append(ann)
    return {"info": {"description": "exported by SceneLens"}, "images": images, "annotations": anns, "categories": cats}


def skeletons_to_results(skeletons: list[Skeleton]) -> list[dict]:
    """COCO result list (what COCO.loadRes takes) from predicted 2-D COCO-17 skeletons."""
    out = []
    for sk in skeletons:
        names = sk.meta.get("file_names") or []
        score = sk.meta.get("score")
        frames = sk.meta.get("frames")
        world = sk.meta.get("world")
        track_ids = sk.meta.get("track_ids")
        bbox = sk.meta.get("bbox")
        for i, j in _records(sk):
            kp, v = _kp_list(sk, i, j, results=True)
            if not np.any(v > 0) and not np.any(sk.joints[i, j]):  # a prediction without keypoints is none
                continue
            conf = sk.confidence[i, j] if sk.confidence is not None else np.ones(sk.joints.shape[2])
            r = {"image_id": _image_id(sk, i), "category_id": 1, "keypoints": kp,
                 "score": round(float(score[i, j]) if score is not None else float(np.mean(conf)), 5),
                 "keypoint_scores": [round(float(c), 4) for c in conf]}
            if bbox is not None:
                r["bbox"] = [round(float(v), 2) for v in bbox[i, j]]
            if track_ids:  # PoseTrack style: image_id = frame index, one track_id per person
                r["track_id"] = int(track_ids[j])
            if i < len(names):
                r["file_name"] = names[i]
            if sk.meta.get("video"):
                r["video"] = sk.meta["video"]
                r["frame"] = int(frames[i]) if frames is not None else i
            if sk.image_size:
                r["image_size"] = list(sk.image_size)
            if world is not None:
                r["extra"] = {"world": np.round(world[i, j], 5).tolist(),
                              "world_joint_set": sk.meta.get("world_joint_set", "mediapipe33"), "units": "m"}
            out.append(r)
    return out


EXPORT_CHOICES = ("predictions", "ground truth", "both")


def export_coco(skeletons: list[Skeleton], which: str = "both") -> dict | list:
    """What "Export COCO keypoints" writes. 'predictions': a COCO result list (what COCO.loadRes takes);
    'ground truth': a COCO dict of the ground-truth layers (segmentation kept); 'both': one COCO dict
    holding the ground truth and, as further annotations marked `"source": "prediction"` with a score, the
    predictions (image entries shared)."""
    if which not in EXPORT_CHOICES:
        raise InputError(None, f"export must be one of {', '.join(EXPORT_CHOICES)}, not {which!r}")
    gt = [s for s in skeletons if s.meta.get("kind") == "gt"]
    pred = [s for s in skeletons if s.meta.get("kind") != "gt"]
    if which == "predictions":
        if not pred:
            raise InputError(None, "no prediction layers to export")
        return skeletons_to_results(pred)
    if which == "ground truth":
        if not gt:
            raise InputError(None, "no ground-truth layers to export")
        return skeletons_to_gt(gt, gt[0].meta.get("categories"))
    if not gt or not pred:
        return skeletons_to_gt(gt, gt[0].meta.get("categories")) if gt else skeletons_to_results(pred)
    out = skeletons_to_gt(gt, gt[0].meta.get("categories"))
    have = {im["id"] for im in out["images"]}
    extra = skeletons_to_gt(pred)
    next_id = 1 + max([a["id"] for a in out["annotations"]] + [0])
    for a in extra["annotations"]:
        a["id"], next_id = next_id, next_id + 1
        a["source"] = "prediction"
        out["annotations"].append(a)
    out["images"] += [im for im in extra["images"] if im["id"] not in have]
    return out


def write_coco(path: str | Path, data: dict | list) -> None:
    from ..atomic import write_text

    write_text(path, json.dumps(data, separators=(",", ":")))
