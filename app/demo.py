"""`whodid demo`: a realistic SaaS data set loaded through the real ingest path.

Every person is simulated from their own seeded random generator, so the data set
is the same for the same --seed, number of people and day (times are laid out
over the ~6 months before today 00:00 UTC), and each event carries an idempotency
id: running the demo twice does not duplicate events.

The story, per person:
- 1-4 anonymous visits ("Visited Site" with URL and Referrer). People who came
  from a campaign (google, facebook, newsletter, twitter) also get an
  "Ad Campaign Hit" with Campaign Source/Medium/Name/Terms/Content, set as
  person properties too (what km.js does); the others came direct.
- About 60% see the pricing page: "Viewed Pricing Page" with the
  "Pricing Page Experiment" variant ("Control" or "Annual Discount") as an event
  property and as a person property. The annual-discount variant converts better.
- Some sign up ("Signed Up" with Plan) and identify (anonymous id -> email).
- Some signups start paying: monthly "Billed" events with Revenue (or one annual
  bill at 20% off in the discount variant), occasional refunds ("Refunded" with a
  negative Revenue), and churn ("Cancelled Subscription", person property Churned).
- Signed-up people log in ("Logged In") less and less often as time passes.
"""
from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable

from .ingest.validation import EventIn
from .services import Services

DAYS = 182
BATCH = 1000  # events per recordEvents call (the API's limit)
CHUNK = 2000  # people simulated and sent together
CONCURRENCY = 8

SOURCES = [
    # source, medium, campaign, weight, signup multiplier, paying rate
    ("google", "cpc", "brand-search", 30, 1.2, 0.45),
    ("facebook", "paid-social", "spring-launch", 20, 0.8, 0.30),
    ("newsletter", "email", "weekly-digest", 10, 1.5, 0.55),
    ("twitter", "social", "founder-thread", 10, 0.7, 0.25),
    (None, None, None, 30, 1.0, 0.40),  # direct
]
TERMS = {"google": ["analytics tool", "kissmetrics alternative", "product analytics"], "facebook": [""],
         "newsletter": [""], "twitter": [""]}
PLANS = [("Starter", Decimal("19.00"), 50), ("Pro", Decimal("49.00"), 35), ("Business", Decimal("199.00"), 15)]
VARIANTS = {"Control": 0.18, "Annual Discount": 0.26}  # signup rate among pricing-page viewers
PAGES = ["/", "/features", "/blog/cohorts-explained", "/docs", "/customers"]
REFERRERS = {"google": "https://www.google.com/", "facebook": "https://www.facebook.com/",
             "newsletter": "", "twitter": "https://t.co/", None: ""}


@dataclass
class PersonPlan:
    anonymous: list[EventIn] = field(default_factory=list)
    identify: tuple[str, str] | None = None
    identified: list[EventIn] = field(default_factory=list)
    properties: list[tuple[str, dict, datetime]] = field(default_factory=list)


@dataclass
class DemoStats:
    people: int = 0
    events: int = 0
    duplicates: int = 0
    signups: int = 0
    paying: int = 0
    property_sets: int = 0
    seconds: float = 0.0


def anchor_today() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _weighted(rng: random.Random, items, weight_index: int):
    return rng.choices(items, weights=[it[weight_index] for it in items])[0]


def simulate_person(i: int, seed: int, anchor: datetime) -> PersonPlan:
    """Everything person number i does; pure and deterministic."""
    rng = random.Random(seed * 1_000_003 + i)
    plan = PersonPlan()
    anon = f"anon-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
    user = f"person{i}@example.com"
    counter = 0

    def event(identity: str, name: str, at: datetime, props: dict, into: list) -> None:
        nonlocal counter
        counter += 1
        into.append(EventIn(identity, name, props, at, f"demo-{seed}-{i}-{counter}"))

    start = anchor - timedelta(days=DAYS)
    # Traffic grows over the period: more first visits in recent months.
    first = start + timedelta(seconds=DAYS * 86400 * rng.random() ** 0.75)
    source, medium, campaign, _, signup_boost, paying_rate = _weighted(rng, SOURCES, 3)

    visits = [first] + sorted(first + timedelta(hours=rng.uniform(1, 24 * 20)) for _ in range(rng.randint(0, 3)))
    visits = [v for v in visits if v < anchor]
    for n, at in enumerate(visits):
        props = {"URL": f"https://whodid.example{rng.choice(PAGES)}", "Referrer": REFERRERS[source] if n == 0 else ""}
        event(anon, "Visited Site", at, props, plan.anonymous)
        if n == 0 and source is not None:
            utm = {"Campaign Source": source, "Campaign Medium": medium, "Campaign Name": campaign,
                   "Campaign Terms": rng.choice(TERMS[source]), "Campaign Content": rng.choice(["a", "b"])}
            event(anon, "Ad Campaign Hit", at, dict(utm), plan.anonymous)
            plan.properties.append((anon, utm, at))

    signup_rate = 0.05
    last = visits[-1]
    if rng.random() < 0.6:
        variant = rng.choice(list(VARIANTS))
        at = last + timedelta(minutes=rng.uniform(1, 15))
        if at < anchor:
            event(anon, "Viewed Pricing Page", at, {"Pricing Page Experiment": variant}, plan.anonymous)
            plan.properties.append((anon, {"Pricing Page Experiment": variant}, at))
            signup_rate = VARIANTS[variant]
            last = at
    else:
        variant = None
    if rng.random() >= min(0.9, signup_rate * signup_boost):
        return plan

    signed_up = last + timedelta(minutes=rng.uniform(2, 60 * 24 * 3))
    if signed_up >= anchor:
        return plan
    plan_name, price, _ = _weighted(rng, PLANS, 2)
    event(anon, "Signed Up", signed_up, {"Plan": plan_name}, plan.anonymous)
    plan.identify = (anon, user)
    plan.properties.append((user, {"Plan": plan_name, "Email": user, "Signed Up At": signed_up.isoformat()},
                            signed_up))

    # Paying: a bill each 30 days until churn; the discount variant sells annual plans.
    churned_at = None
    if rng.random() < paying_rate:
        annual = variant == "Annual Discount" and rng.random() < 0.35
        bill_at = signed_up + timedelta(days=rng.choice([0, 14]), minutes=5)  # some have a 14-day trial
        while bill_at < anchor:
            amount = (price * 12 * Decimal("0.8")).quantize(Decimal("0.01")) if annual else price
            props = {"Revenue": str(amount), "Plan": plan_name, "Billing Period": "annual" if annual else "monthly"}
            event(user, "Billed", bill_at, props, plan.identified)
            if rng.random() < 0.03:
                refund_at = bill_at + timedelta(days=rng.uniform(0.5, 5))
                if refund_at < anchor:
                    event(user, "Refunded", refund_at, {"Revenue": str(-amount), "Plan": plan_name},
                          plan.identified)
            if rng.random() < (0.25 if annual else 0.08):
                churned_at = bill_at + timedelta(days=rng.uniform(1, 29))
                break
            bill_at += timedelta(days=365 if annual else 30)
        if churned_at is not None and churned_at < anchor:
            event(user, "Cancelled Subscription", churned_at, {"Plan": plan_name}, plan.identified)
            plan.properties.append((user, {"Churned": True}, churned_at))

    # Logins: often at first, then less; stop some time after churning.
    engagement = rng.uniform(0.2, 1.0)
    day = signed_up + timedelta(hours=rng.uniform(1, 20))
    end = min(anchor, churned_at + timedelta(days=7)) if churned_at else anchor
    while day < end:
        age = (day - signed_up).days
        if rng.random() < engagement * (0.6 * math.exp(-age / 25) + 0.08):
            event(user, "Logged In", day, {}, plan.identified)
        day += timedelta(days=1, minutes=rng.uniform(-120, 120))
    return plan


async def _gather_limited(coros, limit: int) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro):
        async with semaphore:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def _send_events(services: Services, project_id: uuid.UUID, events: list[EventIn], stats: DemoStats) -> None:
    batches = [events[k:k + BATCH] for k in range(0, len(events), BATCH)]
    for recorded in await _gather_limited(
        (services.ingest.record_events(project_id, b) for b in batches), CONCURRENCY
    ):
        stats.events += sum(not r.duplicate for r in recorded)
        stats.duplicates += sum(r.duplicate for r in recorded)


async def load_demo(
    services: Services,
    project_id: uuid.UUID,
    people: int,
    *,
    seed: int = 42,
    anchor: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoStats:
    """Simulate `people` people and send everything through the ingest service:
    per chunk of people, their anonymous events (batches of up to 1000), then the
    identify calls, then their identified events, then their property sets."""
    anchor = anchor or anchor_today()
    stats = DemoStats()
    started = time.perf_counter()
    for lo in range(0, people, CHUNK):
        plans = [simulate_person(i, seed, anchor) for i in range(lo, min(people, lo + CHUNK))]
        await _send_events(services, project_id, [e for p in plans for e in p.anonymous], stats)
        await _gather_limited(
            (services.ingest.identify(project_id, *p.identify) for p in plans if p.identify), CONCURRENCY * 4
        )
        await _send_events(services, project_id, [e for p in plans for e in p.identified], stats)
        sets = [(identity, props, at) for p in plans for identity, props, at in p.properties]
        await _gather_limited(
            (services.ingest.set_properties(project_id, identity, props, at) for identity, props, at in sets),
            CONCURRENCY * 32,
        )
        stats.people += len(plans)
        stats.signups += sum(p.identify is not None for p in plans)
        stats.paying += sum(any(e.name == "Billed" for e in p.identified) for p in plans)
        stats.property_sets += len(sets)
        if progress:
            progress(len(plans))
    stats.seconds = time.perf_counter() - started
    return stats
