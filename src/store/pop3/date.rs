//! The Date header of a message as Unix seconds (RFC 5322 section 3.3,
//! with the obsolete forms of section 4.3 that old mail still carries).
//! POP3 has no INTERNALDATE, so this is the date a downloaded or migrated
//! message keeps. Anything that does not parse is `None`, never a guess.

use chrono::NaiveDate;

/// The first Date header of `content`, as Unix seconds.
pub fn date_header_seconds(content: &[u8]) -> Option<i64> {
    parse_rfc5322_date(&header_value(content, "date")?)
}

/// The unfolded value of the first header field called `name` (any case),
/// looking only at the header section.
fn header_value(content: &[u8], name: &str) -> Option<String> {
    let mut lines = content.split(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        String::from_utf8_lossy(line).into_owned()
    });
    let mut value: Option<String> = None;
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if let Some(found) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                found.push(' ');
                found.push_str(line.trim());
                continue;
            }
            return value;
        }
        if let Some((field, rest)) = line.split_once(':') {
            if field.trim_end().eq_ignore_ascii_case(name) {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}

/// Parses `[day-of-week ","] day month year hour ":" minute [":" second]
/// [zone]` into Unix seconds. Comments are dropped; two- and three-digit
/// years and the old zone names are read as RFC 5322 section 4.3 says; a
/// missing zone is taken as UTC.
pub fn parse_rfc5322_date(text: &str) -> Option<i64> {
    let text = strip_comments(text)?.replace(',', " ");
    let mut tokens = text.split_whitespace().peekable();
    if tokens
        .peek()
        .is_some_and(|t| t.chars().all(|c| c.is_ascii_alphabetic()))
    {
        weekday(tokens.next()?)?;
    }
    let day: u32 = digits(tokens.next()?, 1, 2)?;
    let month = month(tokens.next()?)?;
    let year = year(tokens.next()?)?;
    let (hour, minute, second) = time(tokens.next()?)?;
    let offset_minutes = match tokens.next() {
        None => 0,
        Some(zone_text) => zone(zone_text)?,
    };
    if tokens.next().is_some() {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(year, month, day)?
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp();
    Some(local - i64::from(offset_minutes) * 60)
}

/// Removes `( ... )` comments, which may nest; an unbalanced one is an error.
fn strip_comments(text: &str) -> Option<String> {
    let mut depth = 0usize;
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if depth > 0 {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                out.push(' ');
            }
            continue;
        }
        match c {
            '(' => depth = 1,
            ')' => return None,
            _ => out.push(c),
        }
    }
    (depth == 0).then_some(out)
}

fn digits<T: std::str::FromStr>(token: &str, min: usize, max: usize) -> Option<T> {
    let fits = (min..=max).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit());
    if fits {
        token.parse().ok()
    } else {
        None
    }
}

fn weekday(token: &str) -> Option<u32> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let lower = token.to_ascii_lowercase();
    DAYS.iter()
        .position(|day| lower == *day)
        .map(|index| index as u32)
}

fn month(token: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = token.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|month| lower == *month)
        .map(|index| index as u32 + 1)
}

/// Four or more digits as written; two digits are 1950-2049, three are
/// added to 1900 (RFC 5322 section 4.3).
fn year(token: &str) -> Option<i32> {
    let value: i32 = digits(token, 2, 4)?;
    Some(match token.len() {
        2 if value < 50 => 2000 + value,
        2 | 3 => 1900 + value,
        _ => value,
    })
}

fn time(token: &str) -> Option<(u32, u32, u32)> {
    let mut parts = token.split(':');
    let hour: u32 = digits(parts.next()?, 1, 2)?;
    let minute: u32 = digits(parts.next()?, 2, 2)?;
    let second: u32 = match parts.next() {
        Some(part) => digits(part, 2, 2)?,
        None => 0,
    };
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // A leap second is kept within its minute.
    Some((hour, minute, second.min(59)))
}

/// The zone's offset east of UTC in minutes.
fn zone(token: &str) -> Option<i32> {
    if let Some(sign) = match token.as_bytes().first() {
        Some(b'+') => Some(1),
        Some(b'-') => Some(-1),
        _ => None,
    } {
        let number: i32 = digits(&token[1..], 4, 4)?;
        let (hours, minutes) = (number / 100, number % 100);
        if minutes > 59 {
            return None;
        }
        return Some(sign * (hours * 60 + minutes));
    }
    let hours = match token.to_ascii_uppercase().as_str() {
        "UT" | "GMT" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // Military zones were defined with the wrong sign; RFC 5322 says
        // to read them as an unknown zone, that is UTC.
        military if military.len() == 1 && military.bytes().all(|b| b.is_ascii_alphabetic()) => 0,
        _ => return None,
    };
    Some(hours * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_form_with_a_numeric_zone() {
        // 2024-03-05T14:30:15Z
        assert_eq!(
            parse_rfc5322_date("Tue, 05 Mar 2024 15:30:15 +0100"),
            Some(1_709_649_015)
        );
        assert_eq!(
            parse_rfc5322_date("5 Mar 2024 09:30:15 -0500"),
            Some(1_709_649_015)
        );
    }

    #[test]
    fn obsolete_forms_still_parse() {
        // Two-digit year, no seconds, a zone name and a comment.
        assert_eq!(
            parse_rfc5322_date("Tue, 5 Mar 24 06:30 PST (Pacific)"),
            parse_rfc5322_date("Tue, 5 Mar 2024 14:30:00 +0000")
        );
        assert_eq!(
            parse_rfc5322_date("1 Jan 99 00:00:00 GMT"),
            Some(915_148_800)
        );
        assert_eq!(parse_rfc5322_date("1 jan 1999 00:00:00"), Some(915_148_800));
        assert_eq!(
            parse_rfc5322_date("Fri,1 Jan 1999 00:00:00 +0000"),
            Some(915_148_800)
        );
    }

    #[test]
    fn malformed_dates_are_none() {
        for bad in [
            "",
            "yesterday",
            "31 Feb 2024 10:00:00 +0000",
            "Xyz, 1 Jan 2024 10:00:00 +0000",
            "1 Foo 2024 10:00:00 +0000",
            "1 Jan 2024 25:00:00 +0000",
            "1 Jan 2024 10:00:00 +0099",
            "1 Jan 2024 10:00:00 +01",
            "1 Jan 2024 10:00:00 +0000 trailing",
            "1 Jan 2024 10:00:00 (unclosed",
            "1 Jan 2024",
            "2024-01-01T10:00:00Z",
        ] {
            assert_eq!(parse_rfc5322_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_date_header_is_found_unfolded_in_the_header_only() {
        let message = b"Subject: x\r\nDATE: Mon, 1 Jan 2024\r\n 00:00:00 +0000\r\n\r\nDate: 2 Jan 2024 00:00:00 +0000\r\n";
        assert_eq!(date_header_seconds(message), Some(1_704_067_200));
        assert_eq!(
            date_header_seconds(b"Subject: x\n\nDate: 1 Jan 2024 00:00 +0000\n"),
            None
        );
    }
}
