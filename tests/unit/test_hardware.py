"""`precision: auto` follows the hardware: bf16 only where the CPU (or GPU) computes it natively."""

from __future__ import annotations

import pytest

from ssl_ads import hardware
from ssl_ads.hardware import describe_cpu, resolve_precision, resolve_trainer_precision

AVX2_ONLY = frozenset({"fpu", "sse4_2", "avx", "avx2", "fma", "f16c"})
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512bw", "avx512_bf16", "avx512_vnni"}
AMX = AVX512_BF16 | {"amx_tile", "amx_bf16"}


@pytest.fixture
def cpu(monkeypatch):
    """Sets the CPU flags the probe sees; clears the suite's SSL_ADS_BF16 pin (tests/conftest.py)."""
    monkeypatch.delenv(hardware.OVERRIDE_ENV, raising=False)

    def with_flags(flags: frozenset[str]) -> None:
        monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)

    return with_flags


def test_auto_is_fp32_on_an_avx2_only_cpu(cpu):
    cpu(AVX2_ONLY)
    assert resolve_precision("auto") == "fp32"
    assert resolve_trainer_precision("auto", "cpu") == "32-true"


@pytest.mark.parametrize("flags", [AVX512_BF16, AMX, frozenset({"fp", "asimd", "bf16"})], ids=["avx512", "amx", "arm"])
def test_auto_is_bf16_where_the_cpu_has_bf16_units(cpu, flags):
    cpu(flags)
    assert resolve_precision("auto") == "bf16"
    assert resolve_trainer_precision("auto", "cpu") == "bf16-mixed"
    assert resolve_trainer_precision("auto", "auto") in ("bf16-mixed", "32-true")  # "auto": CUDA if present


def test_explicit_precisions_are_honoured_whatever_the_cpu(cpu):
    for flags in (AVX2_ONLY, AMX):
        cpu(flags)
        assert [resolve_precision(p) for p in ("fp32", "bf16", "int8")] == ["fp32", "bf16", "int8"]
        assert resolve_trainer_precision("16-mixed", "cpu") == "16-mixed"
        assert resolve_trainer_precision("32-true", "cpu") == "32-true"


def test_unknown_flags_fall_back_to_a_micro_benchmark(cpu, monkeypatch):
    cpu(frozenset())
    monkeypatch.setattr(hardware, "bf16_matmul_speed_ratio", lambda: 0.01)  # bf16 100x slower: emulated
    assert resolve_precision("auto") == "fp32"
    monkeypatch.setattr(hardware, "bf16_matmul_speed_ratio", lambda: 1.8)
    assert resolve_precision("auto") == "bf16"


def test_environment_override_pins_the_answer(cpu, monkeypatch):
    cpu(AVX2_ONLY)
    monkeypatch.setenv(hardware.OVERRIDE_ENV, "1")
    assert resolve_precision("auto") == "bf16"
    cpu(AMX)
    monkeypatch.setenv(hardware.OVERRIDE_ENV, "0")
    assert resolve_trainer_precision("auto", "cpu") == "32-true"


def test_other_accelerators_stay_fp32(cpu):
    cpu(AMX)
    assert resolve_trainer_precision("auto", "mps") == "32-true"


def test_the_micro_benchmark_is_short_and_positive():
    ratio = hardware.bf16_matmul_speed_ratio.__wrapped__(size=64, repeats=1)
    assert ratio > 0


def test_describe_cpu_names_the_capability_and_the_choice(cpu):
    cpu(AVX2_ONLY)
    line = describe_cpu()
    assert hardware.cpu_capability() in line and "precision auto -> fp32" in line and "load average" in line
    assert "none" in line


@pytest.mark.parametrize(
    ("flags", "dim", "expected"),
    [(AVX2_ONLY, 64, "32-true"), (AVX2_ONLY, 256, "32-true"), (AMX, 64, "32-true"), (AMX, 256, "bf16-mixed")],
)
def test_the_lightning_trainer_gets_the_resolved_precision(cpu, tmp_path, flags, dim, expected):
    """bf16-mixed needs bf16 units and a model wide enough to gain from them (`CPU_BF16_MIN_WIDTH`); the protocol
    printed beside the figures names what was chosen."""
    from hydra import compose, initialize_config_dir

    from ssl_ads.config.choices import CONFIG_DIR
    from ssl_ads.config.schema import register_configs
    from ssl_ads.evaluation.context import make_trainer
    from ssl_ads.report.protocol import numerics

    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=pretrain", f"encoder.dim={dim}"])
    assert cfg.trainer.precision == "auto"  # the default
    cpu(flags)
    assert make_trainer(cfg, tmp_path, "fit", 1, "val_loss", "min", progress=False).precision == expected
    assert numerics(cfg) == f"trainer.precision={expected} (auto, on this hardware)"


def test_narrow_models_train_in_fp32_even_with_bf16_units(cpu):
    cpu(AMX)
    narrow, wide = hardware.CPU_BF16_MIN_WIDTH - 1, hardware.CPU_BF16_MIN_WIDTH
    assert resolve_trainer_precision("auto", "cpu", narrow) == "32-true"
    assert resolve_trainer_precision("auto", "cpu", wide) == "bf16-mixed"
    assert resolve_trainer_precision("auto", "cpu") == "bf16-mixed"  # width unknown: the CPU decides
    assert resolve_trainer_precision("bf16-mixed", "cpu", narrow) == "bf16-mixed"  # asked for by name: honoured


@pytest.mark.parametrize(("flags", "expected"), [(AVX2_ONLY, "fp32"), (AMX, "bf16")])
def test_a_sentence_encoders_precision_is_named_in_the_protocol(cpu, flags, expected):
    """The frozen sentence model embeds in `encoder.precision`, which the figures depend on as much as on training's."""
    from hydra import compose, initialize_config_dir

    from ssl_ads.config.choices import CONFIG_DIR
    from ssl_ads.config.schema import register_configs
    from ssl_ads.report.protocol import numerics

    register_configs()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stage=probe", "experiment=reviews_best"])
    cpu(flags)
    assert numerics(cfg).endswith(f"; encoder.precision={expected} (auto, on this hardware)")
