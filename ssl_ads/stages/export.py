"""`ssl-ads export model=<model.pt>|encoder_ckpt=<encoder.pt> format=onnx|torchscript [out=DIR]`.

Writes `model.onnx` / `model.torchscript.pt` (probabilities of a fine-tuned model) or `encoder.*` (embeddings),
checks each against eager PyTorch on random batches of other sizes and lengths (max abs difference printed, at
most `tolerance`), and writes `model_card.md` beside them. `format=[onnx,torchscript]` writes both. Exit status 2
for a bad checkpoint, a missing `[export]` extra, or a parity failure (the files are kept for inspection).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ssl_ads.stages.use_args import output_dir, parse_args, run_command

USAGE = ("usage: ssl-ads export model=<model.pt>|encoder_ckpt=<encoder.pt> format=onnx|torchscript|[onnx,torchscript] "
         "[out=DIR] [opset=17] [tolerance=1e-4]")  # fmt: skip


@dataclass
class ExportArgs:
    # a fine-tuned model bundle (exports its probabilities) ...
    model: str | None = None
    # ... or an encoder checkpoint (exports its embedding); exactly one of the two
    encoder_ckpt: str | None = None
    # onnx, torchscript, or a list of both
    format: Any = "onnx"
    # output directory (default outputs/export/<time>/)
    out: str | None = None
    opset: int = 17
    # largest |exported - eager| accepted on the parity batches (fp32)
    tolerance: float = 1e-4


def main(argv: list[str]) -> int:
    return run_command(_export, argv, USAGE)


def _export(argv: list[str]) -> int:
    from ssl_ads.data.io import write_text_atomic
    from ssl_ads.errors import ConfigError, DataError
    from ssl_ads.use import export as ex
    from ssl_ads.use.model_card import model_card

    args = parse_args(ExportArgs, argv, USAGE)
    formats = [args.format] if isinstance(args.format, str) else list(args.format or [])
    unknown = [f for f in formats if f not in ex.FORMATS]
    if not formats or unknown:
        raise ConfigError(f"format must be onnx, torchscript or a list of them, got {args.format!r} ({USAGE})")
    if (args.model is None) == (args.encoder_ckpt is None):
        raise ConfigError(f"give exactly one of model=<model.pt> or encoder_ckpt=<encoder.pt> ({USAGE})")
    if not args.tolerance > 0:
        raise ConfigError(f"tolerance must be > 0, got {args.tolerance}")
    if "onnx" in formats:
        ex.require_onnx()  # before loading anything: a missing extra is the first thing to say
    kind, source = ("model", Path(args.model)) if args.model else ("encoder", Path(args.encoder_ckpt))
    graph, specs, bundle = _graph(kind, source)
    length = ex.max_length(bundle)
    out = output_dir(args.out, "export")
    console = Console()
    results = []
    for fmt in formats:
        path = ex.export(graph, specs, fmt, out / f"{kind}{ex.SUFFIX[fmt]}", length, args.opset)
        result = ex.parity(graph, specs, fmt, path, length)
        results.append(result)
        console.print(f"[bold]{fmt}[/] {path}: max abs difference vs eager {result.max_abs_diff:.2e} "
                      f"(tolerance {args.tolerance:g}; batches {', '.join(result.checked)})")  # fmt: skip
    card = out / "model_card.md"
    write_text_atomic(card, model_card(bundle, kind, source, results, specs, args.tolerance, args.opset))
    console.print(f"[green]wrote[/] {', '.join(str(r.path) for r in results)} and {card}")
    failed = [r for r in results if not r.max_abs_diff <= args.tolerance]
    if failed:
        worst = max(failed, key=lambda r: r.max_abs_diff)
        raise DataError(f"export: {worst.path} differs from eager PyTorch by {worst.max_abs_diff:.2e} > tolerance "
                        f"{args.tolerance:g}; do not serve it (kept for inspection)")  # fmt: skip
    return 0


def _graph(kind: str, source: Path) -> tuple[Any, list, dict[str, Any]]:
    """The module to export (eval mode), its inputs and the bundle it came from."""
    from ssl_ads.use import export as ex
    from ssl_ads.use.encoder import load_encoder
    from ssl_ads.use.model_bundle import build_model, read_model

    if kind == "model":
        bundle = read_model(source)
        scorer, task = build_model(source, bundle)
        specs = ex.input_specs(scorer.encoder, bundle)
        return ex.model_graph(scorer, task, specs), specs, bundle
    trained = load_encoder(source)  # the use API's loader: a file that is not a checkpoint is named as such
    encoder, bundle = trained.module, trained.bundle
    specs = ex.input_specs(encoder, bundle)
    return ex.encoder_graph(encoder, specs), specs, bundle
