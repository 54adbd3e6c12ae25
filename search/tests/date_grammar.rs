//! Golden tests of the time grammar at fixed clocks: the ranges people mean
//! on a leap day, the day after it, across a month's end and a year's end,
//! and in a time zone where the local date is not UTC's.

use sdfs_search::calendar::{Clock, Date, date, days_from_civil};
use sdfs_search::query::{Context, parse};

const HOUR: i64 = 3600;

/// Local `day` at `hour`, for a user `offset_hours` east of UTC.
fn clock_at(day: Date, hour: i64, offset_hours: i64) -> Clock {
    Clock {
        unix_secs: days_from_civil(day) * 86_400 + hour * HOUR - offset_hours * HOUR,
        utc_offset_secs: (offset_hours * HOUR) as i32,
    }
}

/// A user with no devices or volumes to name, at `clock`.
fn at(clock: Clock) -> Context<'static> {
    Context {
        clock,
        devices: &[],
        volumes: &[],
    }
}

/// Every phrase names `[from, to)` in the clock's local time.
#[track_caller]
fn golden(clock: Clock, cases: &[(&str, Date, Date)]) {
    let ctx = at(clock);
    for (phrase, from, to) in cases {
        let time = parse(phrase, &ctx)
            .time
            .unwrap_or_else(|| panic!("{phrase:?} at {clock:?}: no time"));
        assert_eq!(
            time.range,
            clock.between(*from, *to),
            "{phrase:?} at {clock:?}: expected {from:?}..{to:?}"
        );
    }
}

/// "past N units": from local midnight of `from` up to now.
#[track_caller]
fn golden_since(clock: Clock, cases: &[(&str, Date)]) {
    let ctx = at(clock);
    for (phrase, from) in cases {
        let range = parse(phrase, &ctx)
            .time
            .unwrap_or_else(|| panic!("{phrase:?}: no time"))
            .range;
        assert_eq!(
            (range.start, range.end),
            (clock.start_of(*from), clock.unix_secs),
            "{phrase:?} at {clock:?}: expected from {from:?} to now"
        );
    }
}

#[test]
fn on_a_leap_day() {
    // Thursday 29 February 2024.
    let clock = clock_at(date(2024, 2, 29), 10, 0);
    golden(
        clock,
        &[
            ("today", date(2024, 2, 29), date(2024, 3, 1)),
            ("yesterday", date(2024, 2, 28), date(2024, 2, 29)),
            ("3 days ago", date(2024, 2, 26), date(2024, 2, 27)),
            ("this week", date(2024, 2, 26), date(2024, 3, 4)),
            ("last week", date(2024, 2, 19), date(2024, 2, 26)),
            ("this month", date(2024, 2, 1), date(2024, 3, 1)),
            ("last month", date(2024, 1, 1), date(2024, 2, 1)),
            ("this year", date(2024, 1, 1), date(2025, 1, 1)),
            ("last year", date(2023, 1, 1), date(2024, 1, 1)),
            ("1 year ago", date(2023, 1, 1), date(2024, 1, 1)),
            ("in february", date(2024, 2, 1), date(2024, 3, 1)),
            // March has not begun: the March people mean is last year's.
            ("in march", date(2023, 3, 1), date(2023, 4, 1)),
            (
                "between december and february",
                date(2023, 12, 1),
                date(2024, 3, 1),
            ),
            // The winter under way; the last one that ended.
            ("this winter", date(2023, 12, 1), date(2024, 3, 1)),
            ("last winter", date(2022, 12, 1), date(2023, 3, 1)),
            ("created:2024-02-29", date(2024, 2, 29), date(2024, 3, 1)),
            ("modified:2024-02", date(2024, 2, 1), date(2024, 3, 1)),
        ],
    );
    golden_since(
        clock,
        &[
            ("past 1 month", date(2024, 1, 29)),
            // 2023 has no 29 February: a year back is its last day.
            ("past 1 year", date(2023, 2, 28)),
            ("past 4 years", date(2020, 2, 29)),
        ],
    );
    // Days are counted back from now, hour for hour.
    let ctx = at(clock);
    let days = parse("past 2 days", &ctx).time.expect("past 2 days").range;
    assert_eq!(
        (days.start, days.end),
        (clock.unix_secs - 2 * 86_400, clock.unix_secs)
    );
}

#[test]
fn the_day_after_a_leap_day() {
    // Friday 1 March 2024.
    let clock = clock_at(date(2024, 3, 1), 9, 0);
    golden(
        clock,
        &[
            ("yesterday", date(2024, 2, 29), date(2024, 3, 1)),
            ("last month", date(2024, 2, 1), date(2024, 3, 1)),
            ("this week", date(2024, 2, 26), date(2024, 3, 4)),
            // The winter ended at midnight.
            ("last winter", date(2023, 12, 1), date(2024, 3, 1)),
            ("this spring", date(2024, 3, 1), date(2024, 6, 1)),
        ],
    );
    golden_since(clock, &[("past 1 month", date(2024, 2, 1))]);
}

#[test]
fn at_a_month_s_end() {
    // Tuesday 31 March 2026.
    let clock = clock_at(date(2026, 3, 31), 12, 0);
    golden(
        clock,
        &[
            ("last month", date(2026, 2, 1), date(2026, 3, 1)),
            ("1 month ago", date(2026, 2, 1), date(2026, 3, 1)),
            ("this week", date(2026, 3, 30), date(2026, 4, 6)),
            ("this spring", date(2026, 3, 1), date(2026, 6, 1)),
            ("last spring", date(2025, 3, 1), date(2025, 6, 1)),
            ("in april", date(2025, 4, 1), date(2025, 5, 1)),
        ],
    );
    golden_since(
        clock,
        &[
            // February has no 31st: a month back is its last day.
            ("past 1 month", date(2026, 2, 28)),
            ("past 2 months", date(2026, 1, 31)),
            ("last 3 months", date(2025, 12, 31)),
        ],
    );
}

#[test]
fn in_january() {
    // Thursday 15 January 2026.
    let clock = clock_at(date(2026, 1, 15), 8, 0);
    golden(
        clock,
        &[
            ("last month", date(2025, 12, 1), date(2026, 1, 1)),
            ("last week", date(2026, 1, 5), date(2026, 1, 12)),
            ("3 weeks ago", date(2025, 12, 22), date(2025, 12, 29)),
            ("last summer", date(2025, 6, 1), date(2025, 9, 1)),
            ("this winter", date(2025, 12, 1), date(2026, 3, 1)),
            ("between march and may", date(2025, 3, 1), date(2025, 6, 1)),
            (
                "between november and january",
                date(2025, 11, 1),
                date(2026, 2, 1),
            ),
        ],
    );
}

#[test]
fn at_new_year_in_local_time() {
    // Midnight starting Friday 1 January 2027 for a user at UTC+1, which
    // is 23:00 on 31 December 2026 in UTC: the user's calendar decides.
    let clock = clock_at(date(2027, 1, 1), 0, 1);
    assert_eq!(
        clock.unix_secs,
        days_from_civil(date(2026, 12, 31)) * 86_400 + 23 * HOUR
    );
    let year_end = [
        ("today", date(2027, 1, 1), date(2027, 1, 2)),
        ("yesterday", date(2026, 12, 31), date(2027, 1, 1)),
        ("this year", date(2027, 1, 1), date(2028, 1, 1)),
        ("last year", date(2026, 1, 1), date(2027, 1, 1)),
        ("last month", date(2026, 12, 1), date(2027, 1, 1)),
        ("2 months ago", date(2026, 11, 1), date(2026, 12, 1)),
        ("this week", date(2026, 12, 28), date(2027, 1, 4)),
        ("in december", date(2026, 12, 1), date(2027, 1, 1)),
        ("in 2026", date(2026, 1, 1), date(2027, 1, 1)),
    ];
    golden(clock, &year_end);

    // The same instant for a user in UTC is still the last day of 2026.
    let utc = Clock {
        unix_secs: clock.unix_secs,
        utc_offset_secs: 0,
    };
    golden(
        utc,
        &[
            ("today", date(2026, 12, 31), date(2027, 1, 1)),
            ("this year", date(2026, 1, 1), date(2027, 1, 1)),
            ("last month", date(2026, 11, 1), date(2026, 12, 1)),
        ],
    );
}

#[test]
fn days_a_month_does_not_have_are_no_dates() {
    let ctx = at(clock_at(date(2026, 12, 6), 15, 0));
    for typed in [
        "before:2023-02-29",
        "after:2026-04-31",
        "created:2026-02-30",
        "modified:2026-13",
    ] {
        assert_eq!(parse(typed, &ctx).time, None, "{typed}");
    }
    // Leap days are dates in leap years, 2000 included and 2100 not.
    assert!(parse("created:2000-02-29", &ctx).time.is_some());
    assert!(parse("created:2100-02-29", &ctx).time.is_none());
}
