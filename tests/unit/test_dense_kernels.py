"""The fp32 dense layers of the packed text encoder: every kernel computes the same layer, and a bad choice is
a clear error."""

from __future__ import annotations

import pytest
import torch

from ssl_ads.data import dense_kernels
from ssl_ads.data.dense_kernels import DenseLayer, onednn_available
from ssl_ads.errors import ConfigError

KERNELS = ["mkl"] + (["onednn"] if onednn_available() else [])


def _reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, epilogue: str, residual) -> torch.Tensor:
    y = torch.nn.functional.linear(x.double(), weight.double(), bias.double())
    if epilogue == "gelu":
        return torch.nn.functional.gelu(y)  # exact (erf) GELU, as BERT's "gelu"
    return y + residual.double() if epilogue == "residual" else y


CASES = [(kernel, epilogue) for kernel in KERNELS for epilogue in ("none", "gelu", "residual")]
CASES += [("onednn+gelu", "gelu")] if onednn_available() else []  # oneDNN's multiply, PyTorch's GELU


@pytest.mark.parametrize(("kernel", "epilogue"), CASES)
def test_every_kernel_computes_the_layer_torch_defines(kernel, epilogue):
    """Against float64 `linear` (+ exact GELU / + residual), on shapes that are not multiples of any block size."""
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(37, 29, generator=generator), torch.randn(37, generator=generator)
    x, residual = torch.randn(53, 29, generator=generator), torch.randn(53, 37, generator=generator)
    expected = _reference(x, weight, bias, epilogue, residual)
    layer = DenseLayer(weight, bias, epilogue, kernel=kernel)
    with torch.inference_mode():
        got = layer(x, residual=residual.clone() if epilogue == "residual" else None)
        assert got.shape == (53, 37) and got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)
        if kernel == "mkl" and epilogue != "residual":  # the workspace path writes the same values into `out`
            out = torch.full((53, 37), float("nan"))
            torch.testing.assert_close(layer(x, out=out), got, rtol=0, atol=0)
            assert torch.equal(out, got)


def test_a_residual_goes_only_to_a_residual_layer():
    weight, bias = torch.ones(4, 3), torch.zeros(4)
    with pytest.raises(ValueError, match="residual"):
        DenseLayer(weight, bias, "none", kernel="mkl")(torch.ones(2, 3), residual=torch.ones(2, 4))
    with pytest.raises(ValueError, match="residual"):
        DenseLayer(weight, bias, "residual", kernel="mkl")(torch.ones(2, 3))
    with pytest.raises(ValueError, match="epilogue"):
        DenseLayer(weight, bias, "relu")


@pytest.mark.parametrize("value", ["cublas", "MKL ", "onednn"])
def test_the_kernel_override_is_checked(monkeypatch, value):
    """`SSL_ADS_FP32_GEMM` names a kernel of this build, or the run stops naming the variable."""
    monkeypatch.setenv(dense_kernels.KERNEL_ENV, value)
    if value == "cublas" or (value == "onednn" and not onednn_available()):
        with pytest.raises(ConfigError, match=dense_kernels.KERNEL_ENV):
            dense_kernels.requested_kernel()
    else:
        assert dense_kernels.requested_kernel() == value.strip().lower()
        assert DenseLayer(torch.ones(4, 3), torch.zeros(4)).kernel == value.strip().lower()


def test_auto_measures_once_per_shape_and_picks_a_kernel_of_this_build(monkeypatch):
    monkeypatch.delenv(dense_kernels.KERNEL_ENV, raising=False)
    dense_kernels._fastest.cache_clear()
    threads = torch.get_num_threads()
    first = DenseLayer(torch.randn(64, 32), torch.zeros(64), "gelu")
    second = DenseLayer(torch.randn(64, 32), torch.zeros(64), "gelu")
    assert first.kernel == second.kernel and dense_kernels._fastest.cache_info().misses == 1
    assert first.kernel in ((["mkl", "onednn", "onednn+gelu"]) if onednn_available() else ["mkl"])
    assert torch.get_num_threads() == threads  # the one-thread probe puts torch's thread count back
