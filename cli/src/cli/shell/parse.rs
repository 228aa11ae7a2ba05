//! Reading a command line: words (with `"quoted words"`), durations (`6m`, `1h30m`,
//! `500ms`), money (`49.99`), times (`+30d`, `2026-03-01`, `2026-03-01T20:00`) and
//! sections (`Stalls=2x5@49.99` numbered, `Floor=200@25` general admission).

use chrono::{NaiveDate, NaiveDateTime};
use turnstile::layout::{general_admission, numbered_section};
use turnstile_core::Money;
use turnstile_core::show::SectionSpec;

/// Splits a line into words; `"…"` keeps spaces inside one word, `#` starts a comment.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            break;
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return Err("a quote is not closed".into()),
                }
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// A duration in ms: one or more `<n><unit>` with units `d`, `h`, `m`, `s`, `ms`.
pub fn duration_ms(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a duration (say 6m, 1h30m, 45s, 500ms, 2d)");
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.bytes().next() {
                Some(b'd') => (86_400_000, 1),
                Some(b'h') => (3_600_000, 1),
                Some(b'm') => (60_000, 1),
                Some(b's') => (1_000, 1),
                _ => return Err(bad()),
            }
        };
        rest = &rest[len..];
        let part = number.checked_mul(unit_ms).ok_or_else(bad)?;
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    // Ten years is as far as anyone needs to look.
    if total > 3_650 * 86_400_000 {
        return Err(format!("`{text}` is more than ten years"));
    }
    Ok(total)
}

/// Money as `49.99`, `50` or `0.5`, in cents.
pub fn money(text: &str) -> Result<Money, String> {
    let bad = || format!("`{text}` is not an amount (say 49.99)");
    let (whole, cents) = match text.split_once('.') {
        Some((whole, fraction)) => {
            let cents = match fraction.len() {
                1 => fraction.parse::<u64>().map_err(|_| bad())? * 10,
                2 => fraction.parse::<u64>().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            (whole, cents)
        }
        None => (text, 0),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(cents))
        .filter(|&c| c <= 10_000_000_000) // a hundred million
        .map(Money)
        .ok_or_else(bad)
}

/// A point in time, in ms since the Unix epoch: `+30d` (from `now_ms`), `2026-03-01`
/// (midnight UTC) or `2026-03-01T20:00`.
pub fn instant_ms(text: &str, now_ms: u64) -> Result<u64, String> {
    if let Some(offset) = text.strip_prefix('+') {
        return Ok(now_ms + duration_ms(offset)?);
    }
    let bad = || format!("`{text}` is not a time (say +30d, 2026-03-01 or 2026-03-01T20:00)");
    let at = if text.contains('T') {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").map_err(|_| bad())?
    } else {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| bad())?
            .and_hms_opt(0, 0, 0)
            .ok_or_else(bad)?
    };
    u64::try_from(at.and_utc().timestamp_millis()).map_err(|_| bad())
}

/// A section: `Name=ROWSxSEATS@PRICE` (numbered, rows `A`, `B`… of seats `A-1`…) or
/// `Name=CAPACITY@PRICE` (general admission).
pub fn section(text: &str) -> Result<SectionSpec, String> {
    let bad = |why: &str| format!("`{text}`: {why} (say Stalls=2x5@49.99 or Floor=200@25)");
    let (name, rest) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let (size, price) = rest.split_once('@').ok_or_else(|| bad("no `@price`"))?;
    if name.is_empty() {
        return Err(bad("no name"));
    }
    let price = money(price)?;
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad("sizes are whole numbers"));
    match size.split_once('x') {
        Some((rows, seats)) => {
            let (rows, seats) = (number(rows)?, number(seats)?);
            if rows == 0 || seats == 0 || rows > 26 || seats > 64 {
                return Err(bad("1 to 26 rows of 1 to 64 seats"));
            }
            Ok(numbered_section(name, rows, seats, price.0))
        }
        None => {
            let capacity = number(size)?;
            if capacity == 0 || capacity > 100_000 {
                return Err(bad("1 to 100000 places"));
            }
            Ok(general_admission(name, capacity, price.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_money_times_and_sections_read_as_written() {
        assert_eq!(duration_ms("6m"), Ok(360_000));
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(duration_ms("500ms"), Ok(500));
        assert!(duration_ms("6").is_err() && duration_ms("m").is_err() && duration_ms("").is_err());
        assert_eq!(money("49.99"), Ok(Money(4_999)));
        assert_eq!(money("0.5"), Ok(Money(50)));
        assert_eq!(money("25"), Ok(Money(2_500)));
        assert!(money("4.999").is_err() && money("-1").is_err() && money(".5").is_err());
        assert_eq!(instant_ms("+1d", 5), Ok(86_400_005));
        assert_eq!(instant_ms("2026-01-02", 0), Ok(1_767_312_000_000));
        assert_eq!(instant_ms("2026-01-01T01:00", 0), Ok(1_767_229_200_000));
        assert!(instant_ms("tomorrow", 0).is_err());
        let stalls = section("Stalls=2x5@49.99").unwrap();
        assert_eq!((stalls.capacity, stalls.base_price), (10, Money(4_999)));
        assert_eq!(section("Floor=200@25").unwrap().capacity, 200);
        assert!(section("Floor=0@25").is_err() && section("=2@1").is_err());
        assert_eq!(
            words(r#"show create "Rock Night" +30d # a comment"#),
            Ok(vec![
                "show".into(),
                "create".into(),
                "Rock Night".into(),
                "+30d".into()
            ])
        );
        assert!(words(r#"say "unclosed"#).is_err());
    }
}
