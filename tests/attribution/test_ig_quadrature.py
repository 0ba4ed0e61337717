"""ig.py's own quadrature (captum keeps its helpers private) equals captum's definitions for every method."""
import pytest

from scenelens.engine.attribution.ig import QUADRATURES, quadrature


@pytest.mark.parametrize("method", QUADRATURES)
@pytest.mark.parametrize("n", [2, 7, 50])
def test_quadrature_equals_captum(method, n):
    cap = pytest.importorskip("captum.attr._utils.approximation_methods")  # test-only cross-check
    step_sizes, alphas = cap.approximation_parameters(method)
    w, a = quadrature(method, n)
    assert w == pytest.approx(step_sizes(n), abs=1e-15) and a == pytest.approx(alphas(n), abs=1e-15)
    # weights sum to 1, except captum's trapezoid (1/n per step, ends halved: (n − 1)/n), kept as captum has it
    assert sum(w) == pytest.approx(1.0 if method != "riemann_trapezoid" else (n - 1) / n)


def test_bad_method_and_steps():
    with pytest.raises(ValueError, match="unknown integration method"):
        quadrature("simpson", 8)
    with pytest.raises(ValueError, match="at least 2"):
        quadrature("riemann_left", 1)
