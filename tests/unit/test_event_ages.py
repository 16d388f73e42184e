"""Sequence encoders that read when events happened (`encoder.read_ages`): buckets, inputs, serving, export."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl
import pytest
import torch

from ssl_ads.data.sequence_features import AGE_KEY
from ssl_ads.encoders.gru import SequenceGRU
from ssl_ads.encoders.sequence_base import AGE_BUCKETS, age_buckets
from ssl_ads.encoders.sequence_transformer import SequenceTransformer
from ssl_ads.errors import ConfigError
from ssl_ads.stages.embed import embedding_time
from ssl_ads.stages.predict import main as predict_main
from ssl_ads.use.export import encoder_graph, export, input_specs, parity
from ssl_ads.use.featurize import Counts, as_of_seconds, sequence_chunks


def test_ages_fall_in_half_octave_buckets_and_padding_in_none():
    ages = torch.tensor([[0.0, 0.4, 1.0, 3.0, 20.0, 1e9]])
    mask = torch.tensor([[False, True, True, True, True, True]])
    assert age_buckets(ages, mask).tolist() == [[0, 1, 3, 5, 9, AGE_BUCKETS]]


@pytest.mark.parametrize("encoder_type", [SequenceTransformer, SequenceGRU])
def test_an_encoder_reads_ages_only_when_asked(encoder_type):
    torch.manual_seed(0)
    items = torch.tensor([[0, 3, 4, 5], [2, 3, 4, 5]])
    recent = {"items": items, "mask": items != 0, "age_days": torch.tensor([[0.0, 3.0, 2.0, 1.0]] * 2)}
    stale = {**recent, "age_days": recent["age_days"] + 20.0}
    for read_ages, differs in ((True, True), (False, False)):
        encoder = encoder_type(num_items=8, max_len=4, dim=8, read_ages=read_ages).eval()
        with torch.no_grad():
            gap = (encoder.pooled_states(recent) - encoder.pooled_states(stale)).abs().max().item()
        assert (gap > 1e-4) is differs


def test_an_encoder_that_reads_ages_names_the_setting_when_inputs_have_none():
    encoder = SequenceTransformer(num_items=8, max_len=4, dim=8, heads=2, read_ages=True)
    items = torch.tensor([[0, 3, 4, 5]])
    with pytest.raises(ConfigError, match=r"encoder\.read_ages"):
        encoder({"items": items, "mask": items != 0})


def test_an_encoder_that_reads_ages_exports_them_as_an_input(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    encoder = SequenceTransformer(num_items=20, max_len=8, dim=16, heads=2, read_ages=True).eval()
    bundle = {"encoder_config": {"num_items": 20, "read_ages": True}}
    specs = input_specs(encoder, bundle)
    assert [s.name for s in specs] == ["items", "age_days"]
    graph = encoder_graph(encoder, specs)
    path = export(graph, specs, "onnx", tmp_path / "encoder.onnx", 8)
    assert parity(graph, specs, "onnx", path, 8).max_abs_diff < 1e-4


def test_an_event_without_a_time_reads_as_padding():
    ages = torch.tensor([[float("nan"), 2.0]])
    assert age_buckets(ages, torch.tensor([[True, True]])).tolist() == [[0, 4]]


@pytest.mark.parametrize(
    ("timestamps", "ages"),
    [
        ([0, 86_400 * 2], [[0.0, 2.0, 0.0]]),  # unix seconds, as the training schema
        ([dt.date(2024, 1, 1), dt.date(2024, 1, 3)], [[0.0, 2.0, 0.0]]),
        ([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 3)], [[0.0, 2.0, 0.0]]),
        (["2024-01-01", "2024-01-03"], None),  # text only sorts: no ages, and the items still load
    ],
)
def test_serving_reads_ages_from_numbers_and_dates_and_none_from_text(timestamps, ages):
    state = {"item_vocab": {"item_id": [5, 6], "idx": [2, 3]}, "side_vocabs": {}}
    events = pl.DataFrame({"user_id": [1, 1], "item_id": [5, 6], "timestamp": timestamps})
    (chunk,) = list(sequence_chunks(events, state, [], 3, 10, Counts(), "events.csv").batches)
    assert chunk.inputs["items"].tolist() == [[0, 2, 3]]
    assert (chunk.inputs[AGE_KEY].tolist() if AGE_KEY in chunk.inputs else None) == ages
    if ages is None:
        encoder = SequenceTransformer(num_items=4, max_len=3, dim=8, heads=2, read_ages=True)
        items = torch.as_tensor(chunk.inputs["items"]).long()
        with pytest.raises(ConfigError, match="unix seconds or dates"):
            encoder({"items": items, "mask": items != 0})


@pytest.mark.parametrize(
    ("as_of", "seconds"),
    [
        (86_400, 86_400.0),
        ("86400", 86_400.0),
        ("1970-01-02", 86_400.0),
        (dt.date(1970, 1, 2), 86_400.0),
        ("1970-01-02T01:00:00+01:00", 86_400.0),  # a zone is honoured; a naive time is UTC
        (None, None),
    ],
)
def test_as_of_reads_unix_seconds_dates_and_iso_text(as_of, seconds):
    assert as_of_seconds(as_of) == seconds


@pytest.mark.parametrize("as_of", ["yesterday", True])
def test_an_unreadable_as_of_names_the_setting(as_of):
    with pytest.raises(ConfigError, match=r"embed\.as_of must be unix seconds or an ISO date"):
        as_of_seconds(as_of, "embed.as_of")


def test_as_of_on_timestamps_that_only_sort_names_the_file_and_column_type():
    state = {"item_vocab": {"item_id": [5], "idx": [2]}, "side_vocabs": {}}
    events = pl.DataFrame({"user_id": [1], "item_id": [5], "timestamp": ["b"]})
    with pytest.raises(ConfigError, match=r"events.csv: as_of='2024-01-01' needs timestamps that are times.*String"):
        sequence_chunks(events, state, [], 3, 10, Counts(), "events.csv", as_of="2024-01-01")


def test_the_embed_stage_counts_ages_from_embed_as_of_else_the_label_window_as_training_does():
    with_window, without = SimpleNamespace(cutoff_timestamp=864_000), SimpleNamespace(cutoff_timestamp=None)
    assert embedding_time(None, "sequence", with_window) == 864_000
    assert embedding_time(None, "sequence", without) is None  # the data's last event
    assert embedding_time(86_400.0, "sequence", with_window) == 86_400.0
    assert embedding_time(None, "tabular", with_window) is None
    with pytest.raises(ConfigError, match=r"embed\.as_of applies to event sequences"):
        embedding_time(86_400.0, "tabular", without)


def test_predict_refuses_an_unreadable_as_of_before_reading_anything(tmp_path, capsys):
    assert predict_main([f"model={tmp_path / 'absent.pt'}", f"dataset.path={tmp_path / 'absent.csv'}",
                         "as_of=last tuesday"]) == 2  # fmt: skip
    assert "as_of must be unix seconds or an ISO date" in " ".join(capsys.readouterr().err.split())
