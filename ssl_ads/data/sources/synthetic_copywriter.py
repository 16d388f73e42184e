"""Ad copy for the synthetic marketplace: short texts whose style reveals the advertiser's voice.

Text encoders need a signal to learn: copies written in the same voice share adjectives, verbs,
calls to action and punctuation, topic nouns tie a copy to its item, and each advertiser adds a brand
token. Everything is drawn with numpy from flat word pools and assembled with polars string
expressions, so the cost does not grow with a Python loop per ad.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# Per voice, ";"-separated pools: adjectives, verbs, calls to action, price prefixes, fillers,
# separators and endings (the punctuation habit). Separators and endings keep their spaces.
_VOICE_POOLS: dict[str, dict[str, str]] = {
    "luxury": {
        "adj": "exquisite;timeless;refined;handcrafted;opulent;elegant;bespoke;iconic",
        "verb": "discover;indulge in;experience;embrace;savour",
        "cta": "reserve yours;discover the collection;experience it in store;request a private viewing",
        "price": "from;starting at;an investment of",
        "filler": "crafted for the discerning few;where heritage meets modern grace;an heirloom in the making",
        "mid": " — ;. ",
        "end": ".",
    },
    "playful": {
        "adj": "super;awesome;cheeky;zesty;wild;funky;cozy;bouncy",
        "verb": "grab;snag;try;rock;play with",
        "cta": "go on treat yourself;tap to join the fun;let's gooo;try it today",
        "price": "only;just;a tiny",
        "filler": "because why not;your new favourite thing;trust us on this one",
        "mid": "! ; ~ ",
        "end": "!;!!; :)",
    },
    "bargain": {
        "adj": "cheap;discounted;unbeatable;slashed;massive;clearance;budget;half-price",
        "verb": "save on;stock up on;score;snap up",
        "cta": "buy now;shop the sale;deal ends tonight;click to save",
        "price": "only;now;low as",
        "filler": "while stocks last;lowest price guaranteed;no hidden fees",
        "mid": "!!! ; | ",
        "end": "!!!;!",
    },
    "eco": {
        "adj": "sustainable;organic;recycled;natural;eco-friendly;plant-based;ethical",
        "verb": "choose;switch to;rethink;nurture",
        "cta": "join the movement;choose better today;learn how it's made;shop consciously",
        "price": "for;fairly priced at;at",
        "filler": "kind to the planet;made with care for tomorrow;zero waste packaging",
        "mid": ". ;, ",
        "end": ".;...",
    },
    "tech": {
        "adj": "smart;next-gen;high-performance;wireless;ai-powered;ultra-fast;modular",
        "verb": "upgrade to;optimize with;unlock;power up with",
        "cta": "compare specs;pre-order now;see the benchmarks;get started",
        "price": "from;msrp;priced at",
        "filler": "built on a cutting edge platform;firmware updates included;engineered for speed",
        "mid": ": ; / ",
        "end": ".; >>",
    },
    "family": {
        "adj": "safe;cheerful;trusted;comfy;everyday;wholesome;sturdy;friendly",
        "verb": "share;enjoy;bring home;make memories with",
        "cta": "shop for the whole family;order today;visit us this weekend;make it a family day",
        "price": "only;just;for",
        "filler": "loved by parents and kids alike;for every moment together;fun for all ages",
        "mid": ", ;! ",
        "end": "!;.",
    },
}
VOICES: dict[str, dict[str, list[str]]] = {
    voice: {key: pool.split(";") for key, pool in pools.items()} for voice, pools in _VOICE_POOLS.items()
}
VOICE_NAMES: tuple[str, ...] = tuple(VOICES)
MAX_WORDS = 25

# Nouns per topic; topics beyond this list reuse it cyclically with the topic index as suffix.
TOPIC_NOUNS: list[list[str]] = [
    ["sneakers", "jackets", "dresses", "handbags", "scarves", "boots"],
    ["headphones", "laptops", "smartwatches", "speakers", "tablets", "cameras"],
    ["getaways", "flights", "cruises", "city breaks", "resorts", "luggage"],
    ["coffee", "snacks", "meal kits", "chocolate", "tea", "pasta"],
    ["sofas", "lamps", "rugs", "cookware", "bedding", "candles"],
    ["serums", "lipstick", "fragrance", "skincare", "shampoo", "nail polish"],
    ["running shoes", "yoga mats", "bikes", "dumbbells", "tents", "jerseys"],
    ["consoles", "controllers", "game passes", "headsets", "keyboards", "puzzles"],
    ["savings accounts", "credit cards", "insurance", "loans", "investing apps", "budget planners"],
    ["tyres", "car wax", "dash cams", "seat covers", "ev chargers", "roof racks"],
    ["dog food", "cat toys", "aquariums", "pet beds", "leashes", "treats"],
    ["novels", "audiobooks", "cookbooks", "comics", "journals", "e-readers"],
]

_BRAND_HEADS = ["Vel", "Nor", "Zen", "Lum", "Kor", "Ari", "Bel", "Cas", "Dor", "Eli", "Fen", "Gal", "Hal"]
_BRAND_TAILS = ["ora", "ix", "ano", "eo", "ux", "ara", "ino", "eta", "on", "ly", "ana", "is"]


def topic_nouns(n_topics: int) -> list[list[str]]:
    """Noun pool of every topic; cycled pools get the topic index as suffix so topics stay distinct."""
    base = len(TOPIC_NOUNS)
    return [[w if t < base else f"{w}-{t}" for w in TOPIC_NOUNS[t % base]] for t in range(n_topics)]


def brand_names(n_advertisers: int, rng: np.random.Generator) -> np.ndarray:
    """One distinct brand token per advertiser (a shuffled syllable pair, plus a digit when exhausted)."""
    slot = rng.permutation(n_advertisers)
    n_heads, n_pairs = len(_BRAND_HEADS), len(_BRAND_HEADS) * len(_BRAND_TAILS)
    heads = np.array(_BRAND_HEADS)[slot % n_heads]
    tails = np.array(_BRAND_TAILS)[(slot // n_heads) % len(_BRAND_TAILS)]
    digits = np.where(slot >= n_pairs, (slot // n_pairs).astype(str), "")
    return np.char.add(np.char.add(heads, tails), digits)


def _pick(pools: list[list[str]], group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row, a uniform draw from the pool of its group, via one flat array and offsets."""
    flat = np.array([w for pool in pools for w in pool], dtype=object)
    sizes = np.array([len(pool) for pool in pools])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    within = np.minimum((rng.random(len(group)) * sizes[group]).astype(np.int64), sizes[group] - 1)
    return flat[offsets[group] + within]


def build_ad_copy(
    item_id: np.ndarray,
    item_advertiser: np.ndarray,
    item_topic: np.ndarray,
    item_price: np.ndarray,
    n_advertisers: int,
    n_topics: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """One copy per item: `brand — verb adj noun. adj noun price [filler.] cta!` in the advertiser's voice."""
    advertiser_voice = rng.integers(0, len(VOICE_NAMES), size=n_advertisers)
    brands = brand_names(n_advertisers, rng)
    voice = advertiser_voice[item_advertiser]

    def by_voice(key: str) -> np.ndarray:
        return _pick([VOICES[v][key] for v in VOICE_NAMES], voice, rng)

    nouns = topic_nouns(n_topics)
    cents = np.round(np.asarray(item_price) * 100).astype(np.int64)
    has_filler = rng.random(len(item_id)) < 0.5
    frame = pl.DataFrame(
        {
            "item_id": pl.Series(item_id, dtype=pl.Int64),
            "advertiser_id": pl.Series(item_advertiser, dtype=pl.Int64),
            "topic": pl.Series(item_topic, dtype=pl.Int64),
            "voice": pl.Series(np.array(VOICE_NAMES, dtype=object)[voice], dtype=pl.String),
            "brand": pl.Series(brands[item_advertiser].astype(object), dtype=pl.String),
            "verb": pl.Series(by_voice("verb"), dtype=pl.String),
            "adj1": pl.Series(by_voice("adj"), dtype=pl.String),
            "noun1": pl.Series(_pick(nouns, item_topic, rng), dtype=pl.String),
            "mid1": pl.Series(by_voice("mid"), dtype=pl.String),
            "adj2": pl.Series(by_voice("adj"), dtype=pl.String),
            "noun2": pl.Series(_pick(nouns, item_topic, rng), dtype=pl.String),
            "price_word": pl.Series(by_voice("price"), dtype=pl.String),
            "mid2": pl.Series(by_voice("mid"), dtype=pl.String),
            "filler": pl.Series(by_voice("filler"), dtype=pl.String),
            "has_filler": pl.Series(has_filler, dtype=pl.Boolean),
            "cta": pl.Series(by_voice("cta"), dtype=pl.String),
            "end": pl.Series(by_voice("end"), dtype=pl.String),
            "dollars": pl.Series(cents // 100, dtype=pl.Int64),
            "cents": pl.Series(cents % 100, dtype=pl.Int64),
        }
    )
    col = pl.col
    cents_text = col("cents").cast(pl.String).str.zfill(2)
    amount = pl.concat_str([pl.lit("$"), col("dollars"), pl.lit("."), cents_text])
    head = pl.concat_str(
        [
            col("brand"), col("mid1"), col("verb"), pl.lit(" "), col("adj1"), pl.lit(" "), col("noun1"),
            col("mid2"), col("adj2"), pl.lit(" "), col("noun2"), pl.lit(" "), col("price_word"), pl.lit(" "),
            amount, col("mid1"),
        ]
    )  # fmt: skip
    tail = pl.concat_str([col("cta"), col("end")])
    filler = col("filler") + col("mid2")
    # The optional filler is only added while the copy stays within MAX_WORDS whitespace-separated tokens.
    n_words = sum(part.str.count_matches(r"\S+") for part in (head, tail, filler))
    keep_filler = col("has_filler") & (n_words <= MAX_WORDS)
    text = pl.concat_str([head, pl.when(keep_filler).then(filler).otherwise(pl.lit("")), tail])
    # Bargain copy shouts: a punctuation/casing habit a text encoder can pick up beyond the word choice.
    text = pl.when(col("voice") == "bargain").then(text.str.to_uppercase()).otherwise(text)
    return frame.select("item_id", "advertiser_id", "topic", "voice", text.alias("text"))
