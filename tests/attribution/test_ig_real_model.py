"""IG completeness (Σ IG = F(x) − F(x′) within 1 %) on the real ImageNet classifier."""
import numpy as np
import skimage.data
import torch

from scenelens.engine.attribution import common, ig


def test_ig_completeness_real_classifier(classifier):
    # enough steps for 1 %: the full model at a reduced input size keeps the test fast
    x = torch.from_numpy(common.resize(skimage.data.chelsea(), (112, 112)).astype(np.float32) / 255)
    x = x.permute(2, 0, 1)[None]
    r = ig.integrated_gradients(classifier.module, x, 285, "black", steps=256, method="riemann_trapezoid", batch_size=64)
    assert r.output_difference > 1.0
    assert abs(r.convergence_delta) < 0.01 * abs(r.output_difference), r
