//! Civil dates and the ranges time phrases name, against an injected
//! clock. Ranges are half-open `[start, end)` in Unix seconds, in the
//! user's local time (a fixed UTC offset the caller supplies).

/// "Now", as the caller says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub unix_secs: i64,
    /// Seconds east of UTC of the user's local time.
    pub utc_offset_secs: i32,
}

/// A civil date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
}

/// `[start, end)` in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: i64,
    pub end: i64,
}

const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(d: Date) -> i64 {
    sdfs_core::time::days_from_civil(i64::from(d.year), d.month, d.day)
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> Date {
    let (year, month, day) = sdfs_core::time::civil_from_days(days);
    Date {
        year: year as i32,
        month,
        day,
    }
}

impl Clock {
    /// Local midnight starting `date`, as Unix seconds.
    pub fn start_of(&self, date: Date) -> i64 {
        days_from_civil(date) * DAY - i64::from(self.utc_offset_secs)
    }

    /// Today's local date.
    pub fn today(&self) -> Date {
        civil_from_days((self.unix_secs + i64::from(self.utc_offset_secs)).div_euclid(DAY))
    }

    /// The local day `date`.
    pub fn day(&self, date: Date) -> Range {
        let start = self.start_of(date);
        Range {
            start,
            end: start + DAY,
        }
    }

    /// From the start of `from` to the start of `to`.
    pub fn between(&self, from: Date, to: Date) -> Range {
        Range {
            start: self.start_of(from),
            end: self.start_of(to),
        }
    }

    pub fn year(&self, year: i32) -> Range {
        self.between(date(year, 1, 1), date(year + 1, 1, 1))
    }

    pub fn month(&self, year: i32, month: u32) -> Range {
        self.between(date(year, month, 1), next_month(year, month))
    }

    /// The week (Monday to Monday) `weeks_back` weeks before this one.
    pub fn week(&self, weeks_back: i64) -> Range {
        let today = days_from_civil(self.today());
        // 1970-01-01 was a Thursday: Monday-based weekday 3.
        let monday = today - (today + 3).rem_euclid(7) - 7 * weeks_back;
        Range {
            start: monday * DAY - i64::from(self.utc_offset_secs),
            end: (monday + 7) * DAY - i64::from(self.utc_offset_secs),
        }
    }

    /// The last `days` days up to now.
    pub fn past_days(&self, days: i64) -> Range {
        Range {
            start: self.unix_secs - days * DAY,
            end: self.unix_secs,
        }
    }
}

pub fn date(year: i32, month: u32, day: u32) -> Date {
    Date { year, month, day }
}

/// Whether `year` has a 29 February (Gregorian).
pub fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The days `month` of `year` has.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// `year-month-day` when that day exists: no 30 February, no 29 February
/// outside leap years.
pub fn valid_date(year: i32, month: u32, day: u32) -> Option<Date> {
    ((1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day))
        .then(|| date(year, month, day))
}

/// The first day of the month after `month` of `year`.
pub fn next_month(year: i32, month: u32) -> Date {
    if month == 12 {
        date(year + 1, 1, 1)
    } else {
        date(year, month + 1, 1)
    }
}

/// `month` of `year` moved by `delta` months.
pub fn add_months(year: i32, month: u32, delta: i64) -> (i32, u32) {
    let index = i64::from(year) * 12 + i64::from(month) - 1 + delta;
    (
        index.div_euclid(12) as i32,
        (index.rem_euclid(12) + 1) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(date(1970, 1, 1)), 0);
        assert_eq!(days_from_civil(date(2000, 3, 1)), 11_017);
        assert_eq!(civil_from_days(19_723), date(2024, 1, 1));
        assert_eq!(add_months(2024, 1, -2), (2023, 11));
    }

    #[test]
    fn month_lengths_and_leap_years() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
        assert_eq!(valid_date(2024, 2, 29), Some(date(2024, 2, 29)));
        assert_eq!(valid_date(2023, 2, 29), None);
        assert_eq!(valid_date(2026, 4, 31), None);
        assert_eq!(valid_date(2026, 13, 1), None);
    }

    #[test]
    fn weeks_start_on_monday_in_local_time() {
        // Wednesday 2026-12-09 12:00 UTC, in UTC+2.
        let clock = Clock {
            unix_secs: days_from_civil(date(2026, 12, 9)) * DAY + 12 * 3600,
            utc_offset_secs: 7200,
        };
        let week = clock.week(0);
        assert_eq!(week.start, clock.start_of(date(2026, 12, 7)));
        assert_eq!(week.end - week.start, 7 * DAY);
    }

    proptest! {
        #[test]
        fn civil_dates_round_trip(days in -1_000_000i64..1_000_000) {
            let d = civil_from_days(days);
            prop_assert_eq!(days_from_civil(d), days);
            prop_assert_eq!(valid_date(d.year, d.month, d.day), Some(d));
        }
    }
}
