"""The shape of the demo's year: channels, weekdays, hours of the day and the festivals.

Relative weights only (an average day is 1): `history` scales them to the year's order count.
The online festivals are the Chinese e-commerce calendar — the run-up to 618 and its day, the
Double 11 pre-sale and its day, Double 12 — where online sells several times a normal day and the
stores somewhat more; the Spring Festival brings a rush to the stores the fortnight before and
nearly shuts them on its first days. Pure.
"""

from __future__ import annotations

from datetime import date

CHANNEL_SHARES = {
    "pos": 0.45,
    "guide": 0.07,
    "online-shop": 0.15,
    "mini-program": 0.15,
    "tmall": 0.18,
}
MEMBER_SHARE = {"pos": 0.64, "online-shop": 0.9, "mini-program": 0.96, "tmall": 0.12}
STORE_CHANNELS = frozenset({"pos", "guide"})
# Monday … Sunday
STORE_WEEK = (0.86, 0.84, 0.88, 0.94, 1.08, 1.36, 1.30)
ONLINE_WEEK = (1.00, 0.97, 0.97, 0.98, 1.02, 1.06, 1.08)
STORE_HOURS = tuple(zip(range(10, 22), (2, 4, 6, 5, 5, 6, 7, 8, 9, 10, 9, 5), strict=True))
ONLINE_HOURS = tuple(
    zip(
        range(24),
        (4, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 6, 6, 7, 8, 10, 12, 14, 13, 9),
        strict=True,
    )
)
# The Spring Festival's first day, by year: stores nearly shut then, busy the fortnight before.
SPRING_FESTIVAL = {
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}


def festival_boost(day: date, online: bool) -> float:
    m, d = day.month, day.day
    boost = 1.0
    if m == 6 and 1 <= d <= 20:  # 618
        if d == 18:
            boost = 4.0 if online else 1.4
        elif d in (16, 17):
            boost = 2.0 if online else 1.15
        elif d <= 15:
            boost = 1.3 if online else 1.05
        else:
            boost = 0.85
    elif (m == 10 and d >= 24) or (m == 11 and d <= 13):  # Double 11 and its pre-sale
        if m == 11 and d == 11:
            boost = 6.0 if online else 1.6
        elif m == 11 and d == 10:
            boost = 2.2 if online else 1.2
        elif m == 11 and d >= 12:
            boost = 1.2 if online else 1.0
        else:
            boost = 1.4 if online else 1.05
    elif m == 12 and d == 12:
        boost = 2.0 if online else 1.1
    spring = SPRING_FESTIVAL.get(day.year)
    if spring is not None:
        offset = (day - spring).days
        if -14 <= offset < 0:
            boost *= 1.1 if online else 1.35
        elif 0 <= offset <= 3:
            boost *= 0.5 if online else 0.25
        elif 4 <= offset <= 7:
            boost *= 0.85 if online else 0.7
    return boost


def day_weight(day: date, channel: str, first: date, days: int) -> float:
    """How busy `channel` is on `day` relative to an average day (before noise)."""
    online = channel not in STORE_CHANNELS
    growth = 0.8 + 0.4 * (day - first).days / max(1, days - 1)
    week = (ONLINE_WEEK if online else STORE_WEEK)[day.weekday()]
    return growth * week * festival_boost(day, online)
