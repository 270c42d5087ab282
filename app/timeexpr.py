"""Deterministic resolution of English time expressions into absolute ranges.

``resolve_time_range("what did I do last weekend?", now)`` gives the half-open range
``[Saturday 00:00, Monday 00:00)`` of the weekend before ``now``'s week. Ranges are computed
in ``now``'s time zone (UTC when ``now`` is naive). Weeks start on Monday; a weekend is
Saturday 00:00 to Monday 00:00. Forms with no stated direction ("on Friday", "in March",
"14 March") lean to the past unless the text speaks of the future ("will", "going to",
"next"...), since memories are mostly about what already happened.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
MONTH_ABBREVIATIONS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7,
    "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a couple of": 2, "couple of": 2,
}  # fmt: skip
# Parts of a day as (start hour, end hour); night runs into the next morning.
DAY_PARTS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24), "night": (18, 30)}

_WEEKDAY = "(?P<weekday>" + "|".join(WEEKDAYS) + ")"
_MONTH_FULL = "|".join(MONTHS)
_MONTH_ANY = "(?P<month>" + _MONTH_FULL + "|" + "|".join(MONTH_ABBREVIATIONS) + r")\.?"
_NUMBER = r"(?P<n>\d{1,3}|a couple of|couple of|" + "|".join(w for w in NUMBER_WORDS if " " not in w) + ")"
_UNIT = r"(?P<unit>day|week|month|year)s?"
_PARTS = "|".join(DAY_PARTS)
_RELATIVE = "last|this|next|past|previous|coming"
_BEFORE_MONTH = "in|during|since|until|of|early|mid|late|last|this|next|coming|by"
_ORDINAL_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_FUTURE = re.compile(
    r"\b(will|won't|shall|going to|gonna|plan(?:s|ning)? to|next|tomorrow|upcoming|coming|later)\b|'ll\b",
    re.IGNORECASE,
)
_TIME_HINT = re.compile(
    r"\b(ago|since|until|earlier|later|recent(?:ly)?|days?|weeks?|weekends?|months?|years?|decade|"
    r"morning|afternoon|evening|night|noon|midnight|spring|summer|autumn|fall|winter|christmas|easter|"
    r"thanksgiving|holidays?|vacation|birthday|anniversary|\d{4}|" + "|".join(WEEKDAYS) + "|"
    r"january|february|march|april|june|july|august|september|october|november|december)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TimeRange:
    """A half-open range ``[start, end)`` and the words it was read from."""

    start: datetime
    end: datetime
    expression: str
    span: tuple[int, int] = (0, 0)

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


class TimeOutOfRange(ValueError):
    """A time expression resolves to a moment outside the calendar (years 1 to 9999)."""


def resolve_time_range(text: str, now: datetime) -> TimeRange | None:
    """The range covered by every time expression in ``text``, or None if it has none."""
    found = find_time_expressions(text, now)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return TimeRange(
        start=min(r.start for r in found),
        end=max(r.end for r in found),
        expression="; ".join(r.expression for r in found),
        span=(found[0].span[0], found[-1].span[1]),
    )


def find_time_expressions(text: str, now: datetime) -> list[TimeRange]:
    """Every time expression in ``text`` resolved against ``now``, in reading order.

    Where expressions overlap ("the day before yesterday" and "yesterday"), the longest wins.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    ctx = _Context(now=now, future=bool(_FUTURE.search(text)), text=text)
    candidates: list[TimeRange] = []
    for pattern, resolve in _RULES:
        for match in pattern.finditer(text):
            try:
                bounds = resolve(match, ctx)
            except (ValueError, OverflowError):
                raise TimeOutOfRange(
                    f"{match.group(0).strip()!r} from {now.date().isoformat()} falls outside "
                    "the calendar (years 1 to 9999)"
                ) from None
            if bounds is not None:
                expression = match.group(0).strip()
                candidates.append(TimeRange(bounds[0], bounds[1], expression, match.span()))
    candidates.sort(key=lambda r: (r.span[0], -(r.span[1] - r.span[0])))
    chosen: list[TimeRange] = []
    for candidate in candidates:
        if chosen and candidate.span[0] < chosen[-1].span[1]:
            continue
        chosen.append(candidate)
    return chosen


def mentions_time(text: str) -> bool:
    """Whether ``text`` seems to speak of a time, resolved or not (decides the LLM fallback)."""
    return bool(_TIME_HINT.search(text))


def strip_time_expressions(text: str, ranges: list[TimeRange]) -> str:
    """``text`` without the words of the given expressions (what is left to search for)."""
    out, position = [], 0
    for found in sorted(ranges, key=lambda r: r.span[0]):
        out.append(text[position : found.span[0]])
        position = max(position, found.span[1])
    out.append(text[position:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


@dataclass(frozen=True)
class _Context:
    now: datetime
    future: bool
    text: str

    @property
    def today(self) -> datetime:
        return self.now.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def week_start(self) -> datetime:
        return self.today - self.today.weekday() * DAY


Bounds = tuple[datetime, datetime]
Resolver = Callable[[re.Match[str], _Context], Bounds | None]


def _day(start: datetime) -> Bounds:
    return start, start + DAY


def _month(year: int, month: int, tz_from: datetime) -> Bounds:
    start = tz_from.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, _add_months(start, 1)


def _year(year: int, tz_from: datetime) -> Bounds:
    start = tz_from.replace(year=year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start.replace(year=year + 1)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, _days_in_month(year, month + 1))
    return moment.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - DAY).day


def _number(word: str) -> int:
    word = re.sub(r"\s+", " ", word.lower())
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def _month_number(word: str) -> int:
    word = word.lower().rstrip(".")
    return MONTHS.index(word) + 1 if word in MONTHS else MONTH_ABBREVIATIONS[word]


def _period(unit: str, moment: datetime, ctx: _Context) -> Bounds:
    """The calendar day, week, month or year containing ``moment``."""
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return _day(start)
    if unit == "week":
        start -= start.weekday() * DAY
        return start, start + 7 * DAY
    if unit == "month":
        return _month(start.year, start.month, ctx.now)
    return _year(start.year, ctx.now)


def _shift(moment: datetime, unit: str, amount: int) -> datetime:
    if unit == "day":
        return moment + amount * DAY
    if unit == "week":
        return moment + amount * 7 * DAY
    if unit == "month":
        return _add_months(moment, amount)
    return _add_months(moment, 12 * amount)


def _day_part(day: datetime, part: str | None) -> Bounds:
    if not part:
        return _day(day)
    first, last = DAY_PARTS[part.lower()]
    return day + timedelta(hours=first), day + timedelta(hours=last)


def _named_day(match: re.Match[str], ctx: _Context) -> Bounds:
    offsets = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}
    word = match.group("word").lower()
    part = match.group("part") or ("night" if word == "tonight" else None)
    return _day_part(ctx.today + offsets[word] * DAY, part)


def _day_from_today(offset: int) -> Resolver:
    return lambda match, ctx: _day(ctx.today + offset * DAY)


def _this_day_part(match: re.Match[str], ctx: _Context) -> Bounds:
    return _day_part(ctx.today, match.group("part"))


def _last_night(match: re.Match[str], ctx: _Context) -> Bounds:
    return _day_part(ctx.today - DAY, "night")


def _relative_period(match: re.Match[str], ctx: _Context) -> Bounds:
    which, unit = match.group("which").lower(), match.group("unit").lower()
    if unit == "weekend":
        return _weekend(ctx, {"last": -1, "previous": -1, "this": 0, "next": 1, "coming": 1}.get(which, -1))
    if which == "past":
        return _rolling(ctx, unit, 1)
    step = {"last": -1, "previous": -1, "this": 0, "next": 1, "coming": 1}[which]
    return _period(unit, _shift(ctx.today, unit, step), ctx)


def _weekend(ctx: _Context, weeks: int) -> Bounds:
    start = ctx.week_start + 5 * DAY + weeks * 7 * DAY
    return start, start + 2 * DAY


def _bare_weekend(match: re.Match[str], ctx: _Context) -> Bounds:
    # Saturday or Sunday: "the weekend" is the current one whichever the direction.
    in_weekend = ctx.today.weekday() >= 5
    return _weekend(ctx, 0 if in_weekend or ctx.future else -1)


def _rolling(ctx: _Context, unit: str, amount: int) -> Bounds:
    """The last ``amount`` units up to the end of today ("the past 3 days")."""
    return _shift(ctx.today, unit, -amount), ctx.today + DAY


def _past_n(match: re.Match[str], ctx: _Context) -> Bounds:
    return _rolling(ctx, match.group("unit").lower(), _number(match.group("n")))


def _ago(match: re.Match[str], ctx: _Context) -> Bounds:
    unit = match.group("unit").lower()
    return _period(unit, _shift(ctx.now, unit, -_number(match.group("n"))), ctx)


def _from_now(match: re.Match[str], ctx: _Context) -> Bounds:
    unit = match.group("unit").lower()
    return _period(unit, _shift(ctx.now, unit, _number(match.group("n"))), ctx)


def _within_period(match: re.Match[str], ctx: _Context) -> Bounds:
    start, end = _period(match.group("unit").lower(), ctx.today, ctx)
    return (start, ctx.now) if match.group("side").lower() == "earlier" else (ctx.now, end)


def _weekday(match: re.Match[str], ctx: _Context) -> Bounds | None:
    which = (match.group("which") or "").lower()
    if re.search(r"\bevery\s+$", ctx.text[: match.start()], re.IGNORECASE):
        return None  # a habit, not a day
    target = WEEKDAYS.index(match.group("weekday").lower())
    today = ctx.today.weekday()
    if which == "this":
        return _day(ctx.week_start + target * DAY)
    if which == "last":
        return _day(ctx.today - ((today - target - 1) % 7 + 1) * DAY)
    if which in ("next", "coming"):
        return _day(ctx.today + ((target - today - 1) % 7 + 1) * DAY)
    if ctx.future:
        # "on Friday" in talk of plans: the coming Friday, today included.
        return _day(ctx.today + ((target - today) % 7) * DAY)
    return _day(ctx.today - ((today - target) % 7) * DAY)


def _month_name(match: re.Match[str], ctx: _Context) -> Bounds | None:
    word = match.group("month")
    if word.lower() == "may" and not word.startswith("M"):
        return None  # "this may be": the verb, not the month
    month = _month_number(word)
    which = match.group("which").lower()
    current = ctx.now.month
    year = ctx.now.year
    if which == "last":
        year -= 1 if month >= current else 0
    elif which in ("next", "coming"):
        year += 1 if month <= current else 0
    elif which != "this":
        if ctx.future:
            year += 1 if month < current else 0
        else:
            year -= 1 if month > current else 0
    return _month(year, month, ctx.now)


def _month_year(match: re.Match[str], ctx: _Context) -> Bounds:
    return _month(int(match.group("year")), _month_number(match.group("month")), ctx.now)


def _in_year(match: re.Match[str], ctx: _Context) -> Bounds:
    return _year(int(match.group("year")), ctx.now)


def _date(year: int, month: int, day: int, ctx: _Context) -> Bounds | None:
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    return _day(ctx.now.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0))


def _day_month(match: re.Match[str], ctx: _Context) -> Bounds | None:
    month, day = _month_number(match.group("month")), int(match.group("day"))
    if match.groupdict().get("year"):
        return _date(int(match.group("year")), month, day, ctx)
    year = ctx.now.year
    if not 1 <= day <= _days_in_month(year, month):
        return None
    this_year = ctx.today.replace(month=month, day=day)
    if ctx.future and this_year < ctx.today:
        year += 1
    elif not ctx.future and this_year > ctx.today:
        year -= 1
    return _date(year, month, day, ctx)


def _iso_date(match: re.Match[str], ctx: _Context) -> Bounds | None:
    return _date(int(match.group("y")), int(match.group("m")), int(match.group("d")), ctx)


def _slash_date(match: re.Match[str], ctx: _Context) -> Bounds | None:
    first, second, year = int(match.group("a")), int(match.group("b")), int(match.group("y"))
    year += 2000 if year < 100 else 0
    # Month first (US) unless the first number cannot be a month.
    month, day = (first, second) if first <= 12 else (second, first)
    return _date(year, month, day, ctx)


def _dotted_date(match: re.Match[str], ctx: _Context) -> Bounds | None:
    return _date(int(match.group("y")), int(match.group("b")), int(match.group("a")), ctx)


def _rule(pattern: str, resolve: Resolver) -> tuple[re.Pattern[str], Resolver]:
    return re.compile(pattern, re.IGNORECASE), resolve


_RULES: list[tuple[re.Pattern[str], Resolver]] = [
    _rule(r"\b(?:the\s+)?day\s+before\s+yesterday\b", _day_from_today(-2)),
    _rule(r"\b(?:the\s+)?day\s+after\s+tomorrow\b", _day_from_today(2)),
    _rule(r"\b(?P<word>yesterday|today|tonight|tomorrow)(?:\s+(?P<part>" + _PARTS + r"))?\b", _named_day),
    _rule(r"\bthis\s+(?P<part>morning|afternoon|evening)\b", _this_day_part),
    _rule(r"\blast\s+night\b", _last_night),
    _rule(r"\b(?P<side>earlier|later)\s+this\s+(?P<unit>week|month|year)\b", _within_period),
    _rule(r"\b(?P<which>" + _RELATIVE + r")\s+(?P<unit>week|weekend|month|year)\b", _relative_period),
    _rule(r"\b(?:on|at|over|during)\s+the\s+weekend\b|\bthis\s+past\s+weekend\b", _bare_weekend),
    _rule(r"\b(?:the\s+)?(?:past|last|previous)\s+" + _NUMBER + r"\s+" + _UNIT + r"\b", _past_n),
    _rule(r"\b" + _NUMBER + r"\s+" + _UNIT + r"\s+ago\b", _ago),
    _rule(r"\bin\s+" + _NUMBER + r"\s+" + _UNIT + r"\b", _from_now),
    _rule(r"\b" + _NUMBER + r"\s+" + _UNIT + r"\s+(?:from\s+now|later)\b", _from_now),
    _rule(r"\b(?:(?P<which>last|this|next|coming|on)\s+)?" + _WEEKDAY + r"\b", _weekday),
    _rule(r"\b(?P<which>" + _BEFORE_MONTH + r")\s+(?P<month>" + _MONTH_FULL + r")\b(?!\s+\d)", _month_name),
    _rule(r"\b" + _MONTH_ANY + r",?\s+(?P<year>(?:19|20)\d{2})\b", _month_year),
    _rule(r"\b(?:in|during)\s+(?P<year>(?:19|20)\d{2})\b", _in_year),
    _rule(r"\b" + _ORDINAL_DAY + r"\s+(?:of\s+)?" + _MONTH_ANY + r"(?:,?\s+(?P<year>\d{4}))?\b", _day_month),
    _rule(r"\b" + _MONTH_ANY + r"\s+" + _ORDINAL_DAY + r"\b(?:,?\s+(?P<year>\d{4})\b)?", _day_month),
    _rule(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)", _iso_date),
    _rule(r"\b(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})\b", _iso_date),
    _rule(r"\b(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})\b", _slash_date),
    _rule(r"\b(?P<a>\d{1,2})\.(?P<b>\d{1,2})\.(?P<y>\d{4})\b", _dotted_date),
]  # fmt: skip
