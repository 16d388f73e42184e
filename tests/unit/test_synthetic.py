"""Tests of the synthetic ad-marketplace simulator: determinism, caching, label sanity, schemas."""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ssl_ads.data.sources.synthetic_marketplace import EPOCH, MarketplaceTables, SimulatorSettings, simulate
from ssl_ads.data.sources.synthetic_tables import load_or_simulate, read_tables, settings_hash, write_tables
from ssl_ads.errors import ConfigError, DataError

SMALL = SimulatorSettings(n_users=300, n_items=200, n_advertisers=20, seed=7)

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "events": {
        "user_id": pl.Int64, "item_id": pl.Int64, "category": pl.Int64, "action": pl.String,
        "timestamp": pl.Int64, "session_id": pl.Int64,
    },
    "impressions": {
        "impression_id": pl.Int64, "user_id": pl.Int64, "item_id": pl.Int64, "advertiser_id": pl.Int64,
        "topic": pl.Int64, "category": pl.Int64, "price_tier": pl.Int64, "position": pl.Int64,
        "hour": pl.Int64, "day_of_week": pl.Int64, "device": pl.String, "age_bucket": pl.String,
        "price": pl.Float64, "user_activity": pl.Float64, "user_prior_clicks": pl.Int64,
        "click": pl.Int8, "conversion": pl.Int8, "is_bot": pl.Int8,
    },
    "ad_copy": {
        "item_id": pl.Int64, "advertiser_id": pl.Int64, "topic": pl.Int64, "voice": pl.String,
        "text": pl.String,
    },
    "users": {
        "user_id": pl.Int64, "is_bot": pl.Int8, "churn": pl.Int8, "conversion": pl.Int8,
        "intent_topic": pl.Int64, "n_events_before_cutoff": pl.Int64, "dominant_topic": pl.Int64,
        "device": pl.String, "age_bucket": pl.String,
    },
    "items": {
        "item_id": pl.Int64, "topic": pl.Int64, "category": pl.Int64, "advertiser_id": pl.Int64,
        "price_tier": pl.Int64, "price": pl.Float64, "popularity": pl.Float64,
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def tables() -> MarketplaceTables:
    return simulate(SMALL)


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


# --- determinism and caching -------------------------------------------------------------------------


def test_same_seed_writes_identical_bytes(tmp_path: Path, tables: MarketplaceTables) -> None:
    write_tables(tables, tmp_path / "a")
    write_tables(simulate(SMALL), tmp_path / "b")
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    expected = {f"{n}.parquet" for n in SCHEMAS} | {"meta.json", "manifest.json"}
    assert set(first) == expected
    assert first == second


def test_different_seed_gives_different_data(tmp_path: Path, tables: MarketplaceTables) -> None:
    other = simulate(SimulatorSettings(**{**SMALL.__dict__, "seed": SMALL.seed + 1}))
    write_tables(tables, tmp_path / "a")
    write_tables(other, tmp_path / "b")
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    for name in ("events.parquet", "impressions.parquet", "users.parquet", "ad_copy.parquet"):
        assert first[name] != second[name], name
    assert not tables.events.equals(other.events)


def test_settings_hash_is_stable_and_sensitive() -> None:
    assert settings_hash(SMALL) == settings_hash(SimulatorSettings(**SMALL.__dict__))
    assert re.fullmatch(r"[0-9a-f]{16}", settings_hash(SMALL))
    assert settings_hash(SMALL) != settings_hash(SimulatorSettings(**{**SMALL.__dict__, "n_users": 301}))


def test_write_tables_replaces_existing_directory(tmp_path: Path, tables: MarketplaceTables) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    write_tables(tables, target)
    assert not (target / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp or backup dirs left


def test_load_or_simulate_reuses_cache(tmp_path: Path, tables: MarketplaceTables) -> None:
    directory = load_or_simulate(SMALL, tmp_path)
    assert directory == tmp_path / "synthetic" / settings_hash(SMALL)
    mtimes = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    assert load_or_simulate(SMALL, tmp_path) == directory
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == mtimes
    assert [p.name for p in (tmp_path / "synthetic").iterdir()] == [directory.name]  # no temp dirs
    loaded = read_tables(directory)
    assert loaded.cutoff_timestamp == tables.cutoff_timestamp
    for name in SCHEMAS:
        assert getattr(loaded, name).equals(getattr(tables, name)), name


def test_read_tables_names_missing_files(tmp_path: Path, tables: MarketplaceTables) -> None:
    with pytest.raises(DataError, match=r"meta\.json"):
        read_tables(tmp_path / "nowhere")
    write_tables(tables, tmp_path / "t")
    (tmp_path / "t" / "users.parquet").unlink()
    with pytest.raises(DataError, match=r"users\.parquet"):
        read_tables(tmp_path / "t")


@pytest.mark.parametrize("change", [{"n_users": 0}, {"n_items": 5}, {"label_window_days": 42}, {"bot_share": 1.0}])
def test_invalid_settings_raise_config_error(change: dict) -> None:
    with pytest.raises(ConfigError):
        simulate(SimulatorSettings(**{**SMALL.__dict__, **change}))


# --- schemas and ordering ----------------------------------------------------------------------------


def test_dtypes_are_as_specified(tables: MarketplaceTables) -> None:
    for name, schema in SCHEMAS.items():
        assert dict(getattr(tables, name).schema) == schema, name
    assert tables.users["user_id"].to_list() == list(range(SMALL.n_users))
    assert tables.items["item_id"].to_list() == list(range(SMALL.n_items))
    assert set(tables.events["action"].unique()) == {"click", "cart", "purchase"}


def test_cutoff_is_start_of_label_window(tables: MarketplaceTables) -> None:
    cutoff_day = SMALL.n_days - SMALL.label_window_days
    assert tables.cutoff_timestamp == EPOCH + cutoff_day * 86_400
    assert tables.cutoff_timestamp % 86_400 == 0
    assert tables.events["timestamp"].min() >= EPOCH


def test_events_sorted_and_strictly_increasing_per_user(tables: MarketplaceTables) -> None:
    ev = tables.events
    assert ev.equals(ev.sort("user_id", "timestamp", "session_id"))
    gaps = ev.select(pl.col("timestamp").diff().over("user_id").alias("gap"))["gap"].drop_nulls()
    assert gaps.min() > 0
    # Every cart follows a click on the same item in the same session, every purchase a cart.
    for later, earlier in (("cart", "click"), ("purchase", "cart")):
        prev = ev.select(
            pl.col("action"),
            pl.col("action").shift(1).over("user_id").alias("prev_action"),
            (pl.col("item_id") == pl.col("item_id").shift(1).over("user_id")).alias("same_item"),
        ).filter(pl.col("action") == later)
        assert (prev["prev_action"] == earlier).all() and prev["same_item"].all()


def test_impressions_ordered_and_labels_consistent(tables: MarketplaceTables) -> None:
    imp = tables.impressions
    assert imp["impression_id"].to_list() == list(range(len(imp)))
    assert ((imp["conversion"] == 1) <= (imp["click"] == 1)).all()
    assert imp["hour"].is_between(0, 23).all() and imp["day_of_week"].is_between(0, 6).all()
    assert imp["position"].is_between(1, SMALL.impressions_per_session).all()
    assert imp["click"].sum() == (tables.events["action"] == "click").sum()
    assert imp["conversion"].sum() == (tables.events["action"] == "purchase").sum()


def test_user_prior_clicks_matches_brute_force(tables: MarketplaceTables) -> None:
    imp = tables.impressions.select("impression_id", "user_id", "click", "user_prior_clicks").sort("impression_id")
    seen: dict[int, int] = {}
    expected = []
    for user, click in zip(imp["user_id"].to_list(), imp["click"].to_list(), strict=True):
        expected.append(seen.get(user, 0))
        seen[user] = seen.get(user, 0) + click
    assert imp["user_prior_clicks"].to_list() == expected


# --- label sanity -----------------------------------------------------------------------------------


def test_churn_and_conversion_match_label_window_events(tables: MarketplaceTables) -> None:
    window = tables.events.filter(pl.col("timestamp") >= tables.cutoff_timestamp)
    active = set(window["user_id"].unique().to_list())
    buyers = set(window.filter(pl.col("action") == "purchase")["user_id"].unique().to_list())
    users = tables.users
    assert {u for u, c in zip(users["user_id"], users["churn"], strict=True) if c == 0} == active
    assert {u for u, c in zip(users["user_id"], users["conversion"], strict=True) if c == 1} == buyers
    before = tables.events.filter(pl.col("timestamp") < tables.cutoff_timestamp).group_by("user_id").len()
    counts = dict(zip(before["user_id"], before["len"], strict=True))
    assert users["n_events_before_cutoff"].to_list() == [counts.get(u, 0) for u in range(SMALL.n_users)]


def test_label_rates_are_plausible(tables: MarketplaceTables) -> None:
    users = tables.users
    assert 0.10 <= users["churn"].mean() <= 0.60
    assert 0.05 <= users["conversion"].mean() <= 0.70
    assert users["is_bot"].sum() == round(SMALL.bot_share * SMALL.n_users)
    intent = users["intent_topic"].drop_nulls()
    assert intent.is_between(0, SMALL.n_topics - 1).all()
    assert 0 < users["intent_topic"].null_count() < len(users)


def test_bots_never_buy_and_click_more(tables: MarketplaceTables) -> None:
    bots = set(tables.users.filter(pl.col("is_bot") == 1)["user_id"].to_list())
    purchasers = set(tables.events.filter(pl.col("action") == "purchase")["user_id"].to_list())
    assert bots and not bots & purchasers
    assert tables.users.filter(pl.col("is_bot") == 1)["conversion"].sum() == 0
    ctr = tables.impressions.group_by("is_bot").agg(pl.col("click").mean()).sort("is_bot")["click"]
    assert ctr[1] > ctr[0] + 0.1
    night = tables.impressions.filter(pl.col("is_bot") == 1)["hour"].is_in([22, 23, 0, 1, 2, 3, 4, 5, 6]).mean()
    assert night > 0.8


def test_position_one_clicked_more_than_last(tables: MarketplaceTables) -> None:
    humans = tables.impressions.filter(pl.col("is_bot") == 0)
    ctr = humans.group_by("position").agg(pl.col("click").mean()).sort("position")["click"]
    assert ctr[0] > ctr[-1] + 0.05


def test_events_concentrate_on_dominant_topic(tables: MarketplaceTables) -> None:
    ev = tables.events.join(tables.items.select("item_id", "topic"), on="item_id")
    ev = ev.join(tables.users.select("user_id", "dominant_topic", "is_bot"), on="user_id")
    humans = ev.filter(pl.col("is_bot") == 0)
    share = (humans["topic"] == humans["dominant_topic"]).mean()
    assert share > 4.0 / SMALL.n_topics
    bots = ev.filter(pl.col("is_bot") == 1)
    assert (bots["topic"] == bots["dominant_topic"]).mean() < share / 2


# --- ad copy -----------------------------------------------------------------------------------------


def _vocab(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z'-]+", text.lower()))


def test_ad_copy_covers_every_item_with_voiced_text(tables: MarketplaceTables) -> None:
    copy = tables.ad_copy
    assert copy["item_id"].to_list() == tables.items["item_id"].to_list()
    assert copy["advertiser_id"].equals(tables.items["advertiser_id"])
    n_words = copy["text"].str.count_matches(r"\S+")
    assert n_words.min() >= 8 and n_words.max() <= 25
    # One voice per advertiser.
    assert copy.group_by("advertiser_id").agg(pl.col("voice").n_unique())["voice"].max() == 1


def test_same_voice_copies_share_more_vocabulary(tables: MarketplaceTables) -> None:
    rows = tables.ad_copy.select("voice", "text").rows()
    rng = np.random.default_rng(0)
    picks = rng.choice(len(rows), size=min(len(rows), 120), replace=False)
    same, different = [], []
    for i, j in itertools.combinations(picks.tolist(), 2):
        a, b = _vocab(rows[i][1]), _vocab(rows[j][1])
        (same if rows[i][0] == rows[j][0] else different).append(len(a & b) / len(a | b))
    assert np.mean(same) > 2 * np.mean(different)


def test_same_voice_advertisers_differ_in_brand(tables: MarketplaceTables) -> None:
    first = tables.ad_copy.group_by("advertiser_id").agg(pl.col("voice", "text").first())
    brand = first["text"].str.extract(r"^([A-Za-z0-9]+)").str.to_lowercase()
    assert brand.n_unique() == len(first)


if __name__ == "__main__":  # timing check: python tests/unit/test_synthetic.py
    import time

    for n_users in (28_000, 280_000):  # about 1 M and 10 M events at the default settings
        start = time.perf_counter()
        result = simulate(SimulatorSettings(n_users=n_users))
        elapsed = time.perf_counter() - start
        print(
            f"n_users={n_users:,}: {len(result.events):,} events, {len(result.impressions):,} impressions "
            f"in {elapsed:.1f} s"
        )


def test_an_item_id_offset_shifts_every_item_id_and_changes_nothing_else() -> None:
    """A second retailer for transfer runs: the same draws, its item ids past the first's."""
    plain, shifted = simulate(SMALL), simulate(SimulatorSettings(**{**SMALL.__dict__, "item_id_offset": 10_000}))
    for name in ("events", "impressions", "ad_copy", "items"):
        before, after = getattr(plain, name), getattr(shifted, name)
        assert after.get_column("item_id").min() >= 10_000, name
        assert after.with_columns(pl.col("item_id") - 10_000).equals(before), name
    assert shifted.users.equals(plain.users)
    with pytest.raises(ConfigError, match="item_id_offset >= 0"):
        simulate(SimulatorSettings(**{**SMALL.__dict__, "item_id_offset": -1}))


def test_latent_users_are_the_traits_the_simulation_drew() -> None:
    from ssl_ads.data.sources.synthetic_marketplace import latent_users

    traits = latent_users(SMALL)
    users = simulate(SMALL).users.sort("user_id")
    assert np.array_equal(traits["theta"].argmax(axis=1), users["dominant_topic"].to_numpy())
    assert np.array_equal(traits["is_bot"], users["is_bot"].to_numpy().astype(bool))
