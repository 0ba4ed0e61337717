"""CMU Panoptic body3DScene files (joints19, centimetres, y down) read as a tracked sequence in metres that
stands up, with the calibration's cameras and the skeletons projected into the requested HD views."""
import json

import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io import detect, load_layers
from scenelens.engine.pose.joints import PANOPTIC19, convert

# a standing person in Panoptic's world: centimetres, y down (feet at y = 0, head at y ≈ -170)
STAND = {"neck": (0, -150, 0), "nose": (0, -162, 5), "body_center": (0, -100, 0), "left_shoulder": (18, -148, 0),
         "left_elbow": (20, -120, 5), "left_wrist": (22, -95, 10), "left_hip": (12, -100, 0),
         "left_knee": (12, -55, 2), "left_ankle": (12, -10, 0), "right_shoulder": (-18, -148, 0),
         "right_elbow": (-20, -120, 5), "right_wrist": (-22, -95, 10), "right_hip": (-12, -100, 0),
         "right_knee": (-12, -55, 2), "right_ankle": (-12, -10, 0), "left_eye": (3, -166, 4),
         "left_ear": (7, -164, 0), "right_eye": (-3, -166, 4), "right_ear": (-7, -164, 0)}


def _body(bid, dx):
    j = np.array([STAND[n] for n in PANOPTIC19.names], float) + [dx, 0, 300]
    return {"id": bid, "joints19": np.c_[j, np.full(19, 0.8)].ravel().tolist()}


@pytest.fixture
def sequence(tmp_path):
    seq = tmp_path / "160422_ultimatum1"
    poses = seq / "hdPose3d_stage1_coco19"
    poses.mkdir(parents=True)
    for f in range(3):
        bodies = [_body(0, -60 + 5 * f), _body(3, 60 - 5 * f)] if f != 1 else [_body(3, 55)]
        (poses / f"body3DScene_{f:08d}.json").write_text(json.dumps({"version": 0.7, "univTime": 1.0 + f,
                                                                   "fpsType": "hd_29_97", "bodies": bodies}))
    K = [[1400, 0, 960], [0, 1400, 540], [0, 0, 1]]
    cams = [{"name": "00_00", "type": "hd", "resolution": [1920, 1080], "K": K, "distCoef": [0, 0, 0, 0, 0],
             "R": np.eye(3).tolist(), "t": [[0], [80], [100]]},
            {"name": "00_01", "type": "hd", "resolution": [1920, 1080], "K": K, "distCoef": [-0.2, 0.05, 0, 0, 0],
             "R": np.eye(3).tolist(), "t": [[10], [80], [100]]}]
    (seq / "calibration_160422_ultimatum1.json").write_text(json.dumps({"calibDataSource": "x", "cameras": cams}))
    return poses


def test_sequence_in_metres_standing_with_track_slots(sequence):
    assert detect(sequence).name == "panoptic-folder"
    sk = load_layers(sequence)[0]
    assert sk.joints.shape == (3, 2, 19, 3) and sk.meta["track_ids"] == [0, 3]
    assert sk.meta["units_in"] == "cm" and sk.meta["up_axis"] == "-y"
    assert not sk.meta["valid"][1, 0] and sk.meta["valid"][1, 1]  # body 0 missing in frame 1, slot kept
    k, a = PANOPTIC19.index("left_knee"), PANOPTIC19.index("left_ankle")
    assert np.linalg.norm(sk.joints[0, 0, k] - sk.joints[0, 0, a]) == pytest.approx(np.hypot(0.45, 0.02))
    assert len(sk.meta["rig_cameras"]) == 2 and sk.meta["rig_cameras"][0]["t"] == pytest.approx([0, 0.8, 1.0])
    assert "cameras" not in sk.meta  # that key means one camera per frame to the 3-D view
    coco, conf = convert(sk.joints, "panoptic19", "coco17", sk.confidence)
    assert coco.shape == (3, 2, 17, 3) and conf.max() == pytest.approx(0.8)


def test_projection_into_requested_cameras(sequence):
    layers = load_layers(sequence, cameras="00_00,00_01")
    assert [s.meta.get("camera") for s in layers] == [None, "00_00", "00_01"]
    sk, cam0, cam1 = layers
    X = sk.joints[0, 0, PANOPTIC19.index("nose")]
    xc = X + [0, 0.8, 1.0]
    uv = 1400 * xc[:2] / xc[2] + [960, 540]
    assert cam0.joints[0, 0, PANOPTIC19.index("nose")] == pytest.approx(uv, abs=1e-6)
    assert cam0.image_size == (1920, 1080)
    # radial distortion pulls off-centre points towards the centre
    c = np.array([960, 540])
    N = sk.joints[0, 0, PANOPTIC19.index("left_ankle")] + [0.1, 0.8, 1.0]
    xn = N[:2] / N[2]
    r2 = float((xn ** 2).sum())
    expected = 1400 * xn * (1 - 0.2 * r2 + 0.05 * r2 ** 2) + c  # OpenCV's radial model, k1 = -0.2, k2 = 0.05
    got = cam1.joints[0, 0, PANOPTIC19.index("left_ankle")]
    assert got == pytest.approx(expected, abs=1e-6)
    assert np.linalg.norm(got - c) < np.linalg.norm(1400 * xn)
    with pytest.raises(InputError, match="no camera 99_99"):
        load_layers(sequence, cameras="99_99")


def test_single_file_and_bad_file(sequence, tmp_path):
    f = sequence / "body3DScene_00000001.json"
    assert detect(f).name == "panoptic"
    sk = load_layers(f)[0]
    assert sk.joints.shape == (1, 1, 19, 3) and sk.meta["track_ids"] == [3]
    bad = tmp_path / "body3DScene_00000009.json"
    bad.write_text(json.dumps({"bodies": [{"id": 1, "joints19": [1, 2, 3]}]}))
    with pytest.raises(InputError, match="joints19"):
        load_layers(bad)
