//! Date and time functions (`now`, `format_time`, `date_calc`, `day_of_week`,
//! `from_unix_time`, `convert_tz` …).
//!
//! A datetime argument may be an int or float (milliseconds since the epoch,
//! as eKuiper's `cast.InterfaceToTime`), or text in RFC 3339 /
//! `yyyy-MM-dd HH:mm:ss[.SSS]` / `yyyy-MM-dd` form. Oort has no time value, so
//! functions that return a datetime in eKuiper return RFC 3339 text. The
//! configured time zone is UTC.

use super::{R, ScalarFn, any_null, arg, go_tv, to_int_strict, to_string_always};
use crate::value::Value;
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("convert_tz", convert_tz),
    ("cur_date", |_| Ok(Value::from(Utc::now().format("%Y-%m-%d").to_string()))),
    ("cur_time", |a| now_fmt(a, true)),
    ("current_date", |_| Ok(Value::from(Utc::now().format("%Y-%m-%d").to_string()))),
    ("current_time", |a| now_fmt(a, true)),
    ("current_timestamp", |a| now_fmt(a, false)),
    ("date_calc", date_calc),
    ("date_diff", date_diff),
    ("day", |a| part(a, |t| Value::Int(i64::from(t.day())))),
    ("day_name", |a| part(a, |t| Value::from(t.format("%A").to_string()))),
    ("day_of_month", |a| part(a, |t| Value::Int(i64::from(t.day())))),
    ("day_of_week", |a| part(a, |t| Value::Int(i64::from(t.weekday().num_days_from_sunday())))),
    ("day_of_year", |a| part(a, |t| Value::Int(i64::from(t.ordinal())))),
    ("format_time", format_time),
    ("from_days", from_days),
    ("from_unix_time", from_unix_time),
    ("hour", |a| part(a, |t| Value::Int(i64::from(t.hour())))),
    ("last_day", last_day),
    ("local_time", |a| now_fmt(a, false)),
    ("local_timestamp", |a| now_fmt(a, false)),
    ("microsecond", |a| part(a, |t| Value::Int(i64::from(t.nanosecond() / 1000)))),
    ("minute", |a| part(a, |t| Value::Int(i64::from(t.minute())))),
    ("month", |a| part(a, |t| Value::Int(i64::from(t.month())))),
    ("month_name", |a| part(a, |t| Value::from(t.format("%B").to_string()))),
    ("now", |a| now_fmt(a, false)),
    ("second", |a| part(a, |t| Value::Int(i64::from(t.second())))),
    ("to_seconds", |a| part(a, |t| Value::Int(t.timestamp()))),
    ("tstamp", |_| Ok(Value::Int(Utc::now().timestamp_millis()))),
];

/// eKuiper's `cast.InterfaceToTime(v, "")` with UTC as the configured zone.
pub(crate) fn to_time(v: &Value) -> Result<DateTime<FixedOffset>, String> {
    let utc = FixedOffset::east_opt(0).ok_or("bad offset")?;
    let from_ms = |ms: i64| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.with_timezone(&utc))
            .ok_or_else(|| format!("timestamp {ms} out of range"))
    };
    match v {
        Value::Int(i) => from_ms(*i),
        Value::Float(f) => from_ms(*f as i64),
        Value::String(s) => parse_time(s).ok_or_else(|| {
            format!("Can't parse string {s} as datetime, expected format is 2006-01-02T15:04:05.000Z07:00")
        }),
        other => Err(format!("unsupported type to convert to timestamp {}", go_tv(other))),
    }
}

fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    let utc = FixedOffset::east_opt(0)?;
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y/%m/%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return utc.from_local_datetime(&n).single();
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return utc.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single();
    }
    None
}

/// Go's `time.Time` JSON text: RFC 3339 with as many fraction digits as needed.
pub(crate) fn format_rfc3339(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn part(a: &[Value], f: fn(&DateTime<FixedOffset>) -> Value) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    Ok(f(&to_time(arg(a, 0))?))
}

/// `now([fsp])`: `yyyy-MM-dd HH:mm:ss[.fff…]`; with `time_only`, `HH:mm:ss[.fff…]`.
fn now_fmt(a: &[Value], time_only: bool) -> R {
    let fsp = match arg(a, 0) {
        Value::Null => 0,
        v => to_int_strict(v)?,
    };
    if !(0..=6).contains(&fsp) {
        return Err(format!("invalid fsp: {fsp}, should be in [0, 6]"));
    }
    let now = Utc::now();
    let mut out = now.format(if time_only { "%H:%M:%S" } else { "%Y-%m-%d %H:%M:%S" }).to_string();
    if fsp > 0 {
        let frac = format!("{:09}", now.nanosecond() % 1_000_000_000);
        out.push('.');
        out.push_str(&frac[..fsp as usize]);
    }
    Ok(Value::from(out))
}

/// Go's `time.ParseDuration` (`1h30m`, `-1.5h`, `100ms`, `2us`, `300ns`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(Duration::zero());
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        rest = &rest[unit_len..];
        total += n * unit;
    }
    let ns = if neg { -total } else { total };
    Ok(Duration::nanoseconds(ns as i64))
}

fn date_calc(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let t = to_time(arg(a, 0))?;
    let d = parse_duration(&to_string_always(arg(a, 1)))?;
    let r = t.checked_add_signed(d).ok_or("datetime out of range")?;
    Ok(Value::from(r.format("%Y-%m-%d %H:%M:%S").to_string()))
}

/// `date_diff(a, b)`: `b - a` as Go's `time.Duration` (nanoseconds).
fn date_diff(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let (x, y) = (to_time(arg(a, 0))?, to_time(arg(a, 1))?);
    Ok(Value::Int((y - x).num_nanoseconds().unwrap_or(i64::MAX)))
}

fn from_days(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let days = to_int_strict(arg(a, 0))?;
    if days == 0 {
        return Ok(Value::Null);
    }
    let t = Utc
        .timestamp_opt(0, 0)
        .single()
        .and_then(|t| t.checked_add_signed(Duration::try_days(days - 1)?))
        .ok_or("days out of range")?;
    Ok(Value::from(t.format("%Y-%m-%d").to_string()))
}

fn from_unix_time(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let secs = to_int_strict(arg(a, 0))?;
    if secs == 0 {
        return Ok(Value::Null);
    }
    let t = Utc.timestamp_opt(secs, 0).single().ok_or("seconds out of range")?;
    Ok(Value::from(t.format("%Y-%m-%d %H:%M:%S").to_string()))
}

fn last_day(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let t = to_time(arg(a, 0))?;
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    let d = NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.pred_opt()).ok_or("date out of range")?;
    Ok(Value::from(d.format("%Y-%m-%d").to_string()))
}

fn convert_tz(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let t = to_time(arg(a, 0))?;
    let name = to_string_always(arg(a, 1));
    let tz: chrono_tz::Tz = name.parse().map_err(|_| format!("unknown time zone {name}"))?;
    let local = t.with_timezone(&tz);
    Ok(Value::from(format_rfc3339(&local.fixed_offset())))
}

fn format_time(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let t = to_time(arg(a, 0))?;
    Ok(Value::from(format_pattern(&t, &to_string_always(arg(a, 1)))?))
}

/// Formats with eKuiper's Java-like pattern letters (`yyyy-MM-dd HH:mm:ss.SSS XXX`).
pub(crate) fn format_pattern(t: &DateTime<FixedOffset>, pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // quoted literal
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                out.push(chars[j]);
                j += 1;
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let s = match (c, n) {
            ('G', _) => {
                if t.year() > 0 {
                    "AD".into()
                } else {
                    "BC".into()
                }
            }
            ('Y' | 'y', 2) => format!("{:02}", t.year().rem_euclid(100)),
            ('Y' | 'y', _) => format!("{:04}", t.year()),
            ('M', 1) => t.month().to_string(),
            ('M', 2) => format!("{:02}", t.month()),
            ('M', 3) => t.format("%b").to_string(),
            ('M', _) => t.format("%B").to_string(),
            ('d', 1) => t.day().to_string(),
            ('d', _) => format!("{:02}", t.day()),
            ('E', 1..=3) => t.format("%a").to_string(),
            ('E', _) => t.format("%A").to_string(),
            ('H', 1) => t.hour().to_string(),
            ('H', _) => format!("{:02}", t.hour()),
            ('h', 1) => t.hour12().1.to_string(),
            ('h', _) => format!("{:02}", t.hour12().1),
            ('a', _) => {
                if t.hour12().0 {
                    "PM".into()
                } else {
                    "AM".into()
                }
            }
            ('m', 1) => t.minute().to_string(),
            ('m', _) => format!("{:02}", t.minute()),
            ('s', 1) => t.second().to_string(),
            ('s', _) => format!("{:02}", t.second()),
            ('S', _) => {
                let frac = format!("{:09}", t.nanosecond() % 1_000_000_000);
                format!(".{}", &frac[..n.min(9)])
            }
            ('z', _) => {
                if t.offset().local_minus_utc() == 0 {
                    "UTC".into()
                } else {
                    t.format("%:z").to_string()
                }
            }
            ('Z', _) => t.format("%z").to_string(),
            ('X', 1) => {
                let z = t.format("%z").to_string();
                z.get(..3).unwrap_or(&z).to_string()
            }
            ('X', 2) => t.format("%z").to_string(),
            ('X', _) => t.format("%:z").to_string(),
            (other, _) => return Err(format!("unsupported time format symbol {other}")),
        };
        out.push_str(&s);
        i += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, f, i, run, s};
    use crate::value::Value;

    #[test]
    fn datetime_functions() {
        // 2019-03-05T14:07:09.123Z
        let t = i(1_551_794_829_123);
        run(vec![
            ("format_time", vec![t.clone(), s("yyyy-MM-dd HH:mm:ss")], V(s("2019-03-05 14:07:09"))),
            ("format_time", vec![t.clone(), s("YYYY/MM/dd HH:mm:ssSSS XXX")], V(s("2019/03/05 14:07:09.123 +00:00"))),
            ("format_time", vec![t.clone(), s("EEEE MMMM d, h a")], V(s("Tuesday March 5, 2 PM"))),
            ("format_time", vec![s("2019-03-05T14:07:09+08:00"), s("HH Z")], V(s("14 +0800"))),
            ("format_time", vec![Value::Null, s("HH")], V(Value::Null)),
            ("format_time", vec![s("garbage"), s("HH")], E("Can't parse string garbage as datetime")),
            ("day_of_month", vec![t.clone()], V(i(5))),
            ("day", vec![s("2019-03-05")], V(i(5))),
            ("day_of_week", vec![t.clone()], V(i(2))),
            ("day_of_year", vec![t.clone()], V(i(64))),
            ("day_name", vec![t.clone()], V(s("Tuesday"))),
            ("month", vec![t.clone()], V(i(3))),
            ("month_name", vec![t.clone()], V(s("March"))),
            ("hour", vec![t.clone()], V(i(14))),
            ("minute", vec![t.clone()], V(i(7))),
            ("second", vec![t.clone()], V(i(9))),
            ("microsecond", vec![t.clone()], V(i(123_000))),
            ("to_seconds", vec![t.clone()], V(i(1_551_794_829))),
            ("last_day", vec![s("2020-02-10")], V(s("2020-02-29"))),
            ("last_day", vec![s("2019-12-10 01:02:03")], V(s("2019-12-31"))),
            ("date_calc", vec![s("2019-01-01"), s("1h30m")], V(s("2019-01-01 01:30:00"))),
            ("date_calc", vec![s("2019-01-01"), s("-1h")], V(s("2018-12-31 23:00:00"))),
            ("date_calc", vec![s("2019-01-01"), s("1x")], E("unknown unit")),
            ("date_diff", vec![s("2019-01-01"), s("2019-01-02")], V(i(86_400_000_000_000))),
            ("from_days", vec![i(2)], V(s("1970-01-02"))),
            ("from_days", vec![i(0)], V(Value::Null)),
            ("from_unix_time", vec![i(1_551_794_829)], V(s("2019-03-05 14:07:09"))),
            ("convert_tz", vec![s("2019-03-05T14:07:09Z"), s("Asia/Shanghai")], V(s("2019-03-05T22:07:09+08:00"))),
            ("convert_tz", vec![s("2019-03-05T14:07:09Z"), s("Mars/Base")], E("unknown time zone")),
            ("hour", vec![f(1_551_794_829_123.0)], V(i(14))),
        ]);
        let now = super::super::scalar("now").expect("test")(&[]).expect("test");
        assert!(matches!(now, Value::String(ref x) if x.len() == 19));
        let now3 = super::super::scalar("now").expect("test")(&[i(3)]).expect("test");
        assert!(matches!(now3, Value::String(ref x) if x.len() == 23));
        let ct = super::super::scalar("cur_time").expect("test")(&[]).expect("test");
        assert!(matches!(ct, Value::String(ref x) if x.len() == 8));
        assert!(matches!(super::super::scalar("tstamp").expect("test")(&[]), Ok(Value::Int(_))));
    }
}
