"""PoseIG through a user's pose adapter file (torch_module() returning heatmaps): the whole pipeline — crop,
blur path, per-joint maps, indices — runs on a user model, and each joint's map lands on what that joint
looks at."""
import textwrap

import numpy as np
import pytest

from scenelens.engine.attribution.pipeline import AttributionOptions, run_attribution
from scenelens.engine.errors import InputError

ADAPTER = '''
import torch


class Net(torch.nn.Module):
    """Joint 0 follows the red channel, joint 1 the green one: heatmap = 4x4-pooled channel x 8."""

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x[:, :2], 4) * 8.0


class ToyPose:
    joint_names = ["red_dot", "green_dot"]
    input_size = 128

    def load(self, spec=None, device="cpu"):
        self.net = Net().to(device)

    def torch_module(self):
        return self.net


ADAPTER = ToyPose  # attribution needs only torch_module(); ADAPTER names the class explicitly
'''


def _image():
    img = np.zeros((128, 128, 3), np.uint8)
    img[28:36, 20:28, 0] = 255  # red dot near (24, 32)
    img[90:98, 96:104, 1] = 255  # green dot near (100, 94)
    return img


def test_poseig_on_user_adapter_localises_each_joint(tmp_path):
    path = tmp_path / "toy_pose.py"
    path.write_text(textwrap.dedent(ADAPTER))
    opts = AttributionOptions(faithfulness=False)
    res = run_attribution(_image(), "poseig", None, str(path), opts)
    assert list(res.joint_maps) == ["red_dot", "green_dot"]
    for name, (x, y) in {"red_dot": (24, 32), "green_dot": (100, 94)}.items():
        m = np.abs(res.joint_maps[name])
        yy, xx = np.mgrid[:m.shape[0], :m.shape[1]]
        near = (xx - x) ** 2 + (yy - y) ** 2 < 20 ** 2
        assert m[near].sum() > 0.6 * m.sum(), (name, m[near].sum() / m.sum())
    for key in ("FI", "LI", "DI"):
        vals = res.indices[key]
        assert {"red_dot", "green_dot"} <= set(vals) and np.all(np.isfinite(list(vals.values())))


def test_user_pose_adapter_without_torch_module_is_refused(tmp_path):
    path = tmp_path / "bad_pose.py"
    path.write_text("class Bad:\n    def load(self, spec=None, device='cpu'):\n        pass\n\n\nADAPTER = Bad\n")
    with pytest.raises(InputError, match="torch_module"):
        run_attribution(_image(), "poseig", None, str(path), AttributionOptions(faithfulness=False))
