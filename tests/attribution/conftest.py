import json
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def torch_threads():
    import torch

    torch.set_num_threads(2)
    return 2


@pytest.fixture(scope="session")
def coco_dir():
    d = SHARED / "coco_keypoints"
    if not d.is_dir():
        pytest.skip("shared COCO keypoint samples are not present")
    return d


@pytest.fixture(scope="session")
def cat_image():
    import skimage.data

    return skimage.data.chelsea()


@pytest.fixture(scope="session")
def cat_mask():
    import cv2

    spec = json.loads((HERE / "data" / "chelsea_cat_mask.json").read_text())
    w, h = spec["size"]
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.array(spec["polygon_xy"], np.int32)], 1)
    return m.astype(bool)


@pytest.fixture(scope="session")
def classifier(torch_threads):
    from scenelens.engine.attribution.classifier import load_classifier

    return load_classifier()
