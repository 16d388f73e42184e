"""Seeded, fully vectorized simulator of an ad marketplace (events, impressions, ad copy, labels).

Why a simulator: the toolkit needs data with known structure to show that self-supervised encoders
learn something real. Users have latent topic interests that drive which items they click, so a
sequence model can infer interests (and hence purchase propensity) from item ids alone; churners fade
out before the label window; bots click fast, at night and uniformly. Every draw comes from one
`np.random.default_rng(seed)` in a fixed order and the parquet options are fixed, so the same settings
give byte-identical tables. No Python loop runs per user, session, event or item. The tables are cached
on disk by `ssl_ads.data.sources.synthetic_tables`; the ad copy is written by `synthetic_copywriter`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ssl_ads.data.sources.synthetic_copywriter import build_ad_copy
from ssl_ads.errors import ConfigError

SIMULATOR_VERSION = 2  # bump when the generative process changes: it is part of the cache key
DAY = 86_400
EPOCH = 1_700_000_000 // DAY * DAY  # midnight UTC, Tuesday 2023-11-14: day 0 of the simulation
DEVICES = ("mobile", "desktop", "tablet")
AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55+")
CATEGORIES_PER_TOPIC = 4
CHURN_SHARE = 0.20  # share of non-bot users whose engagement fades out before the label window
BOT_SESSION_MULTIPLIER = 6.0
BOT_CLICK_RATE = 0.6
OFF_TOPIC_SHARE = 0.15  # impressions drawn from the whole catalogue instead of the session topic
CART_BASE = 0.2  # P(cart | click) = CART_BASE + 0.3 * affinity
# P(purchase | cart) = BUY_SCALE * propensity ** BUY_POWER * tier factor: steep, so that conversion
# depends on WHICH topics a user engages with, not only on how active they are.
BUY_SCALE = 0.15
BUY_POWER = 4.0
# Ratio between the most and the least purchase-prone topic (what a sequence model can learn from).
TOPIC_PROPENSITY_SPREAD = 10.0
ACTIONS = ("click", "cart", "purchase")
TABLES = ("events", "impressions", "ad_copy", "users", "items")  # the fields of MarketplaceTables, one file each


@dataclass(frozen=True)
class SimulatorSettings:
    n_users: int = 5000
    n_items: int = 800  # ads/items in the catalogue
    n_topics: int = 12
    n_advertisers: int = 40
    n_days: int = 42  # simulated days; the last `label_window_days` are the label window
    label_window_days: int = 14
    sessions_per_user_day: float = 0.3  # mean activity; per-user rate is lognormal around it
    impressions_per_session: int = 8
    bot_share: float = 0.03
    seed: int = 0
    # added to every item id: another retailer (another seed) with ids disjoint from this one's, the same topics
    # and categories (category = topic * CATEGORIES_PER_TOPIC + k): what transfer to a new catalogue needs
    item_id_offset: int = 0


@dataclass(frozen=True)
class MarketplaceTables:
    events: pl.DataFrame  # behaviour events, all days
    impressions: pl.DataFrame
    ad_copy: pl.DataFrame
    users: pl.DataFrame  # one row per user with labels
    items: pl.DataFrame  # catalogue
    cutoff_timestamp: int  # start of the label window (unix seconds)


def validate(s: SimulatorSettings) -> None:
    """Reject settings the generative process cannot honour, naming the offending key."""
    checks = {
        "n_users >= 1": s.n_users >= 1,
        "n_topics >= 1": s.n_topics >= 1,
        "n_items >= n_topics (every topic needs an item)": s.n_items >= s.n_topics,
        "n_advertisers >= 1": s.n_advertisers >= 1,
        "1 <= label_window_days < n_days <= 3650": 1 <= s.label_window_days < s.n_days <= 3650,
        "sessions_per_user_day > 0": s.sessions_per_user_day > 0,
        "1 <= impressions_per_session <= 200": 1 <= s.impressions_per_session <= 200,
        "0 <= bot_share < 1": 0.0 <= s.bot_share < 1.0,
        "seed >= 0": s.seed >= 0,
        "item_id_offset >= 0": s.item_id_offset >= 0,
    }
    failed = [rule for rule, ok in checks.items() if not ok]
    if failed:
        raise ConfigError(f"synthetic simulator settings: need {'; '.join(failed)} (got {s})")


def _i64(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64)


def _i8(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Int8)


def _labels(names: tuple[str, ...], codes: np.ndarray) -> pl.Series:
    """String column from small integer codes without building Python string objects per row."""
    return pl.Series(names, dtype=pl.String).gather(codes)


def _lognormal_mean_one(rng: np.random.Generator, sigma: float, size: int) -> np.ndarray:
    """Multiplicative noise with mean 1, so it spreads a quantity without shifting its average."""
    return rng.lognormal(-0.5 * sigma**2, sigma, size)


def _make_items(s: SimulatorSettings, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Catalogue in contiguous topic blocks, so per-topic sampling is one searchsorted on a global array."""
    n, n_topics = s.n_items, s.n_topics
    topic = (np.arange(n) * n_topics) // n
    bounds = np.searchsorted(topic, np.arange(n_topics + 1))  # block t is [bounds[t], bounds[t+1])
    category = topic * CATEGORIES_PER_TOPIC + rng.integers(0, CATEGORIES_PER_TOPIC, n)
    # Advertisers: a primary topic each (spread evenly), half of them also a second topic.
    primary = rng.permutation(s.n_advertisers) % n_topics
    second = (primary + rng.integers(1, max(n_topics, 2), s.n_advertisers)) % n_topics
    active = np.zeros((s.n_advertisers, n_topics), dtype=bool)
    active[np.arange(s.n_advertisers), primary] = True
    has_second = rng.random(s.n_advertisers) < 0.5
    active[np.arange(s.n_advertisers)[has_second], second[has_second]] = True
    active[np.arange(n_topics) % s.n_advertisers, np.arange(n_topics)] = True  # no topic left without one
    advertiser = np.empty(n, dtype=np.int64)
    popularity = np.empty(n)
    cum_pop = np.empty(n)
    for t in range(n_topics):  # loop over topics only
        lo, hi = bounds[t], bounds[t + 1]
        advertiser[lo:hi] = rng.choice(np.flatnonzero(active[:, t]), size=hi - lo)
        rank = rng.permutation(hi - lo)
        pop = 1.0 / (rank + 1.0) ** 1.1  # Zipf-like within the topic
        popularity[lo:hi] = pop / pop.sum()
        cum_pop[lo:hi] = t + np.cumsum(popularity[lo:hi])
        cum_pop[hi - 1] = t + 1.0
    tier = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    price = np.round(np.array([8.0, 25.0, 80.0, 300.0])[tier] * _lognormal_mean_one(rng, 0.3, n), 2)
    return {
        "item_id": np.arange(n), "topic": topic, "category": category, "advertiser_id": advertiser,
        "price_tier": tier, "price": price, "popularity": popularity, "cum_pop": cum_pop, "bounds": bounds,
    }  # fmt: skip


def _make_users(s: SimulatorSettings, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Latent user traits: interests, activity, habits, purchase propensity, bot/churner flags."""
    n, n_topics = s.n_users, s.n_topics
    theta = rng.dirichlet(np.full(n_topics, 0.3), size=n)
    topic_propensity = np.geomspace(1.0, TOPIC_PROPENSITY_SPREAD, n_topics)[rng.permutation(n_topics)]
    topic_propensity /= topic_propensity.mean()
    propensity = (theta @ topic_propensity) * _lognormal_mean_one(rng, 0.3, n)
    is_bot = np.zeros(n, dtype=bool)
    is_bot[rng.permutation(n)[: round(s.bot_share * n)]] = True
    churner = ~is_bot & (rng.random(n) < CHURN_SHARE)
    rate = s.sessions_per_user_day * _lognormal_mean_one(rng, 0.6, n)
    rate = np.where(is_bot, rate * BOT_SESSION_MULTIPLIER, rate)
    hour_weight = 1.0 + 0.8 * np.cos(2 * np.pi * (np.arange(24) - 20) / 24)  # evening peak
    pref_hour = np.where(is_bot, rng.integers(0, 5, n), rng.choice(24, size=n, p=hour_weight / hour_weight.sum()))
    return {
        "theta": theta, "propensity": propensity, "is_bot": is_bot, "churner": churner, "rate": rate,
        "pref_hour": pref_hour, "device": rng.choice(len(DEVICES), size=n, p=[0.55, 0.35, 0.10]),
        "age": rng.choice(len(AGE_BUCKETS), size=n, p=[0.15, 0.3, 0.25, 0.18, 0.12]),
    }  # fmt: skip


def _make_sessions(s: SimulatorSettings, rng: np.random.Generator, users: dict) -> dict[str, np.ndarray]:
    """Sessions sorted by (user, start): Poisson counts per user, day/hour/topic drawn per session."""
    cutoff_day = s.n_days - s.label_window_days
    churner, is_bot = users["churner"], users["is_bot"]
    # Churners' rate falls linearly to 0 at the cutoff (mean factor 1/2 over the first cutoff_day days).
    expected = users["rate"] * np.where(churner, cutoff_day / 2.0, float(s.n_days))
    user = np.repeat(np.arange(s.n_users, dtype=np.int32), rng.poisson(expected))
    u = rng.random(len(user))
    fading = churner[user]
    day = np.where(fading, cutoff_day * (1.0 - np.sqrt(1.0 - u)), s.n_days * u).astype(np.int32)
    day = np.minimum(day, np.where(fading, cutoff_day - 1, s.n_days - 1))
    bot = is_bot[user]
    jitter = np.rint(rng.normal(0.0, 1.0, len(user)) * np.where(bot, 1.0, 2.5)).astype(np.int32)
    hour = (users["pref_hour"][user] + jitter) % 24
    start = day * DAY + hour * 3600 + rng.integers(0, 3600, len(user), dtype=np.int32)  # seconds from EPOCH
    # Session topic ~ theta_u by inverse CDF: per-user cumulative rows offset by the user index
    # form one increasing array, so a single searchsorted serves every session.
    cum = np.cumsum(users["theta"], axis=1)
    cum[:, -1] = 1.0
    cum += np.arange(s.n_users)[:, None]
    topic = np.searchsorted(cum.ravel(), user + rng.random(len(user)), side="right") - user * s.n_topics
    topic = np.clip(topic, 0, s.n_topics - 1)
    topic = np.where(bot, rng.integers(0, s.n_topics, len(user)), topic)  # bots browse anything
    order = np.lexsort((start, user))
    user, start, topic = user[order], start[order], topic[order]
    # A user's sessions never overlap: start_j >= start_{j-1} + span, where span bounds a session's length.
    # With a_j = start_j - j*span this is start_j = j*span + running max of a (per user, via an offset
    # that makes every user's values exceed the previous user's), so events stay time-ordered per user.
    span = s.impressions_per_session * 180 + 60
    counts = np.bincount(user, minlength=s.n_users)
    rank = np.arange(len(user)) - np.repeat(np.cumsum(counts) - counts, counts)
    big = s.n_days * DAY + (int(counts.max(initial=0)) + 1) * span
    shifted = start - rank * span + user.astype(np.int64) * big
    start = np.maximum.accumulate(shifted) - user.astype(np.int64) * big + rank * span
    return {"user": user, "start": start, "topic": topic}


def _make_impressions(
    s: SimulatorSettings, rng: np.random.Generator, users: dict, items: dict, sessions: dict
) -> dict[str, np.ndarray]:
    """[n_sessions x k] impressions with their click/cart/purchase outcomes, flattened row-major."""
    k, n_sess = s.impressions_per_session, len(sessions["user"])
    user = np.repeat(sessions["user"], k)
    bot = users["is_bot"][user]
    topic = np.repeat(sessions["topic"], k)
    bounds = items["bounds"]
    in_topic = np.searchsorted(items["cum_pop"], topic + rng.random(len(user)), side="right")
    in_topic = np.clip(in_topic, bounds[topic], bounds[topic + 1] - 1)
    anywhere = rng.integers(0, s.n_items, len(user))
    item = np.where(rng.random(len(user), np.float32) < OFF_TOPIC_SHARE, anywhere, in_topic)
    position = np.tile(np.arange(1, k + 1, dtype=np.int32), n_sess)
    # Humans look at each ad for 40-180 s; bots fire every 2-4 s.
    session_bot = users["is_bot"][sessions["user"]]
    lo, width = np.where(session_bot, 2, 40)[:, None], np.where(session_bot, 3, 141)[:, None]
    gaps = lo + (rng.random((n_sess, k), np.float32) * width).astype(np.int32)
    t = (sessions["start"][:, None] + np.cumsum(gaps, axis=1, dtype=np.int32)).ravel()
    del gaps
    hour = ((t % DAY) // 3600).astype(np.float32)  # t counts seconds from EPOCH, a midnight
    item_topic = items["topic"][item]
    affinity = users["theta"][user, item_topic].astype(np.float32)
    logit = -1.6 + 4.0 * affinity - 0.15 * (position - 1) + 0.35 * np.cos(np.float32(np.pi / 12) * (hour - 20))
    p_click = np.where(bot, BOT_CLICK_RATE, 1.0 / (1.0 + np.exp(-logit)))
    click = rng.random(len(user), np.float32) < p_click
    cart = click & ~bot & (rng.random(len(user), np.float32) < CART_BASE + 0.3 * affinity)
    tier_factor = np.array([1.4, 1.0, 0.7, 0.45], np.float32)[items["price_tier"][item]]
    buy_weight = (BUY_SCALE * users["propensity"] ** BUY_POWER).astype(np.float32)
    p_buy = np.minimum(buy_weight[user] * tier_factor, 0.95)
    purchase = cart & (rng.random(len(user), np.float32) < p_buy)
    # Rows are user-major and time-ordered within a user, so prior clicks are a per-user exclusive cumsum.
    clicks_until = np.concatenate([[0], np.cumsum(click, dtype=np.int64)])  # clicks before row i
    counts = np.bincount(user, minlength=s.n_users)
    prior = clicks_until[:-1] - np.repeat(clicks_until[np.cumsum(counts) - counts], counts)
    return {
        "user": user, "item": item, "position": position, "t": t, "session": np.repeat(np.arange(n_sess), k),
        "click": click, "cart": cart, "purchase": purchase, "bot": bot, "prior": prior,
    }  # fmt: skip


def _make_events(rng: np.random.Generator, imp: dict, items: dict) -> pl.DataFrame:
    """A click row a few seconds after the impression, then a cart and a purchase row a little later.

    Each impression owns three action slots; taking the set slots in row-major order keeps the events in
    (user, time) order without a sort. Delays stay below the smallest gap between impressions
    (2-10 + 5-15 + 5-15 < 40 s for humans; bots click 1 s after a 2-4 s gap), so timestamps are strictly
    increasing per user.
    """
    slots = np.flatnonzero(np.stack([imp["click"], imp["cart"], imp["purchase"]], axis=1).ravel())
    row, action = slots // 3, (slots % 3).astype(np.int8)
    del slots
    lo = np.where(action == 0, np.where(imp["bot"][row], 1, 2), 5)
    delay = lo + (rng.random(len(row)) * np.where(lo == 1, 1, np.where(action == 0, 9, 11))).astype(np.int64)
    cum = np.cumsum(delay)
    first = np.maximum.accumulate(np.where(action == 0, np.arange(len(row)), 0))  # the row's click event
    timestamp = imp["t"][row] + cum - cum[first] + delay[first] + EPOCH
    item = imp["item"][row]
    return pl.DataFrame(
        {
            "user_id": _i64(imp["user"][row]),
            "item_id": _i64(item),
            "category": _i64(items["category"][item]),
            "action": _labels(ACTIONS, action),
            "timestamp": _i64(timestamp),
            "session_id": _i64(imp["session"][row]),
        }
    )


def _impressions_table(s: SimulatorSettings, users: dict, items: dict, imp: dict, sess: dict) -> pl.DataFrame:
    """Impressions in time order (tie-break: session id, i.e. user then session start) with labels."""
    cutoff = (s.n_days - s.label_window_days) * DAY
    n_before = np.bincount(sess["user"][sess["start"] < cutoff], minlength=s.n_users)
    noise = np.random.default_rng([s.seed, 1]).lognormal(0.0, 0.1, s.n_users)  # separate stream: stable
    activity = n_before / (s.n_days - s.label_window_days) * noise
    # (t, session) is unique (t grows within a session), so the default sort gives a unique permutation.
    order = np.argsort(imp["t"] * max(len(sess["user"]), 1) + imp["session"])
    t, user, item = imp["t"][order], imp["user"][order], imp["item"][order]
    return pl.DataFrame(
        {
            "impression_id": _i64(np.arange(len(order))),
            "user_id": _i64(user),
            "item_id": _i64(item),
            "advertiser_id": _i64(items["advertiser_id"][item]),
            "topic": _i64(items["topic"][item]),
            "category": _i64(items["category"][item]),
            "price_tier": _i64(items["price_tier"][item]),
            "position": _i64(imp["position"][order]),
            "hour": _i64(t % DAY // 3600),
            "day_of_week": _i64((t // DAY + EPOCH // DAY + 3) % 7),  # unix day 0 was a Thursday; Monday = 0
            "device": _labels(DEVICES, users["device"][user]),
            "age_bucket": _labels(AGE_BUCKETS, users["age"][user]),
            "price": pl.Series(items["price"][item], dtype=pl.Float64),
            "user_activity": pl.Series(activity[user], dtype=pl.Float64),
            "user_prior_clicks": _i64(imp["prior"][order]),
            "click": _i8(imp["click"][order]),
            "conversion": _i8(imp["purchase"][order]),
            "is_bot": _i8(imp["bot"][order]),
        }
    )


def _users_table(s: SimulatorSettings, users: dict, sess: dict, events: pl.DataFrame) -> pl.DataFrame:
    """Labels measured from the simulated behaviour (not the latent flags), one row per user."""
    cutoff = EPOCH + (s.n_days - s.label_window_days) * DAY
    ev_user = events["user_id"].to_numpy()
    after = events["timestamp"].to_numpy() >= cutoff
    bought = (events["action"] == "purchase").to_numpy()
    n_after = np.bincount(ev_user[after], minlength=s.n_users)
    n_bought = np.bincount(ev_user[after & bought], minlength=s.n_users)
    n_before = np.bincount(ev_user[~after], minlength=s.n_users)
    # Intent: topic of the first session starting in the label window (sessions are sorted by user, start).
    window = np.flatnonzero(sess["start"] >= cutoff - EPOCH)
    first_users, first_pos = np.unique(sess["user"][window], return_index=True)
    intent = np.full(s.n_users, -1, dtype=np.int64)
    intent[first_users] = sess["topic"][window[first_pos]]
    return pl.DataFrame(
        {
            "user_id": _i64(np.arange(s.n_users)),
            "is_bot": _i8(users["is_bot"]),
            "churn": _i8(n_after == 0),
            "conversion": _i8(n_bought > 0),
            "intent_topic": _i64(intent).replace(-1, None),
            "n_events_before_cutoff": _i64(n_before),
            "dominant_topic": _i64(users["theta"].argmax(axis=1)),
            "device": _labels(DEVICES, users["device"]),
            "age_bucket": _labels(AGE_BUCKETS, users["age"]),
        }
    )


def latent_users(settings: SimulatorSettings) -> dict[str, np.ndarray]:
    """The latent traits `simulate` draws for its users (interests `theta`, purchase `propensity`, flags), by
    replaying its first draws: what no encoder sees, for ceiling analyses (scripts/bench_demo_ceiling.py)."""
    validate(settings)
    rng = np.random.default_rng(settings.seed)
    _make_items(settings, rng)
    return _make_users(settings, rng)


def simulate(settings: SimulatorSettings) -> MarketplaceTables:
    """Run the whole simulation in memory; the same settings always give the same tables."""
    validate(settings)
    rng = np.random.default_rng(settings.seed)
    items = _make_items(settings, rng)
    users = _make_users(settings, rng)
    sessions = _make_sessions(settings, rng, users)
    imp = _make_impressions(settings, rng, users, items, sessions)
    events = _make_events(rng, imp, items)
    ad_copy = build_ad_copy(
        items["item_id"], items["advertiser_id"], items["topic"], items["price"],
        settings.n_advertisers, settings.n_topics, np.random.default_rng([settings.seed, 2]),
    )  # fmt: skip
    impressions = _impressions_table(settings, users, items, imp, sessions)
    del imp
    item_table = pl.DataFrame(
        {
            key: pl.Series(items[key], dtype=pl.Float64 if key in ("price", "popularity") else pl.Int64)
            for key in ("item_id", "topic", "category", "advertiser_id", "price_tier", "price", "popularity")
        }
    )
    users_table = _users_table(settings, users, sessions, events)
    if settings.item_id_offset:
        shifted = pl.col("item_id") + settings.item_id_offset
        events, impressions, ad_copy, item_table = (
            frame.with_columns(shifted) for frame in (events, impressions, ad_copy, item_table)
        )
    return MarketplaceTables(
        events=events,
        impressions=impressions,
        ad_copy=ad_copy,
        users=users_table,
        items=item_table,
        cutoff_timestamp=EPOCH + (settings.n_days - settings.label_window_days) * DAY,
    )
