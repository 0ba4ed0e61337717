"""IG, Grad-CAM, occlusion and deletion/insertion on toy models (exact answers) and on the real classifier."""
import numpy as np
import pytest
import torch

from scenelens.engine.attribution import common, faithfulness as fa, gradcam, ig, occlusion


def small_cnn(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Softplus(), torch.nn.Conv2d(8, 8, 3, stride=2),
                              torch.nn.Tanh(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4))
    return net.double().eval()


def test_ig_completeness_small_cnn_and_matches_captum():
    net = small_cnn()
    x = torch.rand(1, 3, 24, 24, dtype=torch.float64)
    r = ig.integrated_gradients(net, x, target=2, baseline="black", steps=200, batch_size=50)
    assert abs(r.convergence_delta) < 0.01 * abs(r.output_difference)
    assert r.attributions.sum() == pytest.approx(r.output_difference, rel=0.01)
    ref = ig.captum_ig(net, x, target=2, baseline="black", steps=200)
    np.testing.assert_allclose(r.attributions, ref.attributions, atol=1e-10)
    few = ig.integrated_gradients(net, x, target=2, baseline="black", steps=20, batch_size=8)
    one = ig.integrated_gradients(net, x, target=2, baseline="black", steps=20, batch_size=1)
    np.testing.assert_allclose(one.attributions, few.attributions, atol=1e-12)


def test_ig_blurred_and_user_baselines():
    net = small_cnn(1)
    x = torch.rand(1, 3, 24, 24, dtype=torch.float64)
    b = ig.make_baseline(x, "blurred", 3.0)
    assert b.std() < x.std()
    r = ig.integrated_gradients(net, x, 1, "blurred", steps=100, blur_sigma=3.0)
    assert abs(r.relative_error) < 0.01 and r.baseline == "blurred"
    u = np.full((10, 10, 3), 128, np.uint8)
    r = ig.integrated_gradients(net, x, 1, u, steps=100)
    assert r.f_baseline == pytest.approx(float(net(torch.full_like(x, 128 / 255))[0, 1].detach()), abs=1e-6)
    assert abs(r.relative_error) < 0.01


def test_ig_cancel():
    import threading

    from scenelens.engine.errors import JobCancelled

    ev = threading.Event()
    ev.set()
    with pytest.raises(JobCancelled):
        ig.integrated_gradients(small_cnn(), torch.rand(1, 3, 8, 8, dtype=torch.float64), 0, steps=10, cancel=ev)


def test_gradcam_linear_conv_gap_equals_cam():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 6, 3, padding=1)
    fc = torch.nn.Linear(6, 3, bias=False)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.feature_map, self.fc = conv, torch.nn.Identity(), fc

        def forward(self, x):
            return self.fc(self.feature_map(self.conv(x)).mean((2, 3)))

    net = Net().eval()
    x = torch.rand(1, 3, 10, 10)
    r = gradcam.grad_cam(net, x, 1, "feature_map", relu=False)
    with torch.no_grad():
        cam = torch.einsum("k,khw->hw", fc.weight[1], conv(x)[0]).numpy()
    ratio = r.cam_lowres / cam
    assert np.all(ratio > 0) and np.allclose(ratio, ratio.flat[0], rtol=1e-4)


def test_classifier_top_class_and_gradcam_on_cat(classifier, cat_image, cat_mask):
    from captum.attr import LayerGradCam

    x = classifier.prepare(cat_image)
    top = classifier.topk(x, 3)
    assert top[0]["name"] in ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")
    r = gradcam.grad_cam(classifier.module, x, top[0]["index"])
    ref = LayerGradCam(classifier.module, classifier.module.feature_map).attribute(x, top[0]["index"], relu_attributions=True)
    np.testing.assert_allclose(r.cam_lowres, ref[0, 0].detach().numpy(), rtol=1e-4, atol=1e-6)
    cam = common.resize(r.cam, (cat_image.shape[1], cat_image.shape[0]))
    inside = float(cam[cat_mask].sum() / cam.sum())
    area = float(cat_mask.mean())
    assert inside > 0.85, inside
    assert inside / area > 1.1, (inside, area)  # denser on the cat than a uniform map would be


def test_auc_and_one_pixel_monotonicity():
    assert fa.auc([1, 1, 1]) == pytest.approx(1.0)
    assert fa.auc([1, 0, 0, 0]) == pytest.approx(0.5 / 3)
    H = W = 8
    target = (3, 5)

    def score(b):  # depends on one pixel only
        return b[:, 0, target[0], target[1]]

    x = torch.ones(1, 3, H, W)
    good = np.zeros((H, W))
    good[target] = 1
    bad = np.ones((H, W))
    bad[target] = 0
    cg = fa.curve(score, x, good, "deletion", step=1)
    cb = fa.curve(score, x, bad, "deletion", step=1)
    n = H * W
    assert cg.auc == pytest.approx(1.0 / (2 * n))  # s_0 / (2n)
    assert cb.auc == pytest.approx((n - 1 + 0.5) / n)  # ≈ s_0
    ins = fa.curve(score, x, good, "insertion", step=1, substrate=torch.zeros_like(x))
    assert ins.auc == pytest.approx(1 - 1.0 / (2 * n))


def test_occlusion_finds_the_region():
    def score(b):
        return b[:, :, 20:28, 4:12].mean((1, 2, 3))

    x = torch.rand(1, 3, 32, 32) * 0.5 + 0.5
    r = occlusion.occlusion(score, x, window=8, stride=4, fill="black", batch_size=7)
    yy, xx = np.unravel_index(np.argmax(r.attributions), r.attributions.shape)
    assert 20 <= yy < 28 and 4 <= xx < 12
    assert r.attributions[:12, 16:].max() == 0.0


def test_deletion_on_cat_beats_random_for_ig_and_gradcam_beats_its_inverse(classifier, cat_image):
    x = classifier.prepare(cat_image)
    t = classifier.topk(x, 1)[0]["index"]

    def score(b):
        return torch.softmax(classifier.module(b), 1)[:, t]

    a = common.reduce_channels(ig.integrated_gradients(classifier.module, x, t, "black", 16, batch_size=16).attributions)
    step = 224 * 4
    f = fa.deletion_insertion(score, x, a, step=step, batch_size=32, with_random=True)
    assert f.deletion.auc < f.deletion_random.auc
    assert f.deletion.scores[0] == pytest.approx(float(score(x)), rel=1e-4)
    cam = gradcam.grad_cam(classifier.module, x, t).cam
    gc = fa.curve(score, x, cam, "deletion", step=step, batch_size=32)
    inv = fa.curve(score, x, -cam, "deletion", step=step, batch_size=32)
    assert gc.auc < inv.auc
