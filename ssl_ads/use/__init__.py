"""The "use" layer (DESIGN.md): a trained encoder applied to new data with the featurizer it was trained with."""
