"""The evaluation engine: one split, then probe / fine-tune / zero-shot ranking per task kind, and the rows,
bundles and reports they produce (the CLI stages in `ssl_ads/stages/` only wire these together)."""
