"""The fp32 dense layers of the packed text encoder: every kernel computes the same layer, and a bad choice is
a clear error."""

from __future__ import annotations

import json

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


@pytest.fixture
def choices(monkeypatch, tmp_path):
    """`auto` with its per-machine choices file under tmp_path and no remembered choice in this process."""
    monkeypatch.delenv(dense_kernels.KERNEL_ENV, raising=False)
    monkeypatch.delenv(dense_kernels.CHOICES_ENV, raising=False)  # the suite's own file (tests/conftest.py)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    dense_kernels._fastest.cache_clear()
    yield tmp_path / "ssl-ads" / "dense_kernels.json"
    dense_kernels._fastest.cache_clear()


def test_auto_measures_once_per_machine_and_shape_and_the_next_process_reads_it(choices, monkeypatch):
    threads = torch.get_num_threads()
    first = DenseLayer(torch.randn(64, 32), torch.zeros(64), "gelu")
    assert first.kernel in KERNELS and torch.get_num_threads() == threads  # the 1-thread probe restores threads
    if not onednn_available():
        return  # nothing to choose between, nothing kept
    other = DenseLayer(torch.randn(16, 64), torch.zeros(16), "residual")  # a second shape joins the first
    stored = json.loads(choices.read_text())
    assert list(stored.values()) == [{"64x32 gelu": first.kernel, "16x64 residual": other.kernel}]
    assert torch.__version__ in next(iter(stored))  # a new torch measures again

    def no_timing(*args):
        raise AssertionError("measured again although the choice is on disk")

    dense_kernels._fastest.cache_clear()  # as in a new process
    monkeypatch.setattr(dense_kernels, "_time_candidates", no_timing)
    assert DenseLayer(torch.randn(64, 32), torch.zeros(64), "gelu").kernel == first.kernel
    flipped = {"mkl": "onednn", "onednn": "mkl"}[first.kernel]  # what is on disk is what runs
    choices.write_text(json.dumps({key: {"64x32 gelu": flipped, "16x64 residual": [1]} for key in stored}))
    dense_kernels._fastest.cache_clear()
    assert DenseLayer(torch.randn(64, 32), torch.zeros(64), "gelu").kernel == flipped
    monkeypatch.undo()  # a damaged entry is measured again, the rest of the file kept
    monkeypatch.setenv(dense_kernels.CHOICES_ENV, str(choices))
    DenseLayer(torch.randn(16, 64), torch.zeros(16), "residual")
    assert json.loads(choices.read_text())[next(iter(stored))]["64x32 gelu"] == flipped


def test_the_choices_file_follows_its_variables(monkeypatch, tmp_path):
    monkeypatch.delenv(dense_kernels.CHOICES_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dense_kernels.choices_file() == tmp_path / "xdg" / "ssl-ads" / "dense_kernels.json"
    monkeypatch.setenv(dense_kernels.CHOICES_ENV, str(tmp_path / "mine.json"))
    assert dense_kernels.choices_file() == tmp_path / "mine.json"


@pytest.mark.parametrize("damage", ["{not json", "[1, 2]", '{"other machine": {"64x32 gelu": "cublas"}}', ""])
def test_a_damaged_choices_file_is_measured_again_and_rewritten(choices, damage):
    if not onednn_available():
        pytest.skip("this torch build has no oneDNN: MKL without measuring")
    choices.parent.mkdir(parents=True)
    choices.write_text(damage)
    layer = DenseLayer(torch.randn(64, 32), torch.zeros(64), "residual")
    stored = json.loads(choices.read_text())
    assert {"64x32 residual": layer.kernel} in stored.values()


def test_a_onednn_that_fails_to_run_leaves_the_layer_on_mkl(choices, monkeypatch):
    """A build whose oneDNN linear exists but raises (old or unusual builds): MKL, and nothing is kept on disk."""

    def broken(*args, **kwargs):
        raise RuntimeError("mkldnn: unsupported platform")

    monkeypatch.setattr(dense_kernels, "onednn_available", lambda: True)
    monkeypatch.setattr(dense_kernels, "_time_candidates", broken)
    assert DenseLayer(torch.randn(8, 4), torch.zeros(8), "none").kernel == "mkl"
    assert not choices.exists()
