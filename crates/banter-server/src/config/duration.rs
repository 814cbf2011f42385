//! Durations in configuration are written with their unit: `"45s"`,
//! `"500ms"`, `"90d"`, `"1h 30m"` (parsed by `humantime`).
//!
//! A bare number is refused rather than guessed at: the old files took
//! milliseconds while the old flags took seconds, so `idle_timeout = 60`
//! meant 60 ms and was silently accepted. Written back (the effective
//! configuration, the generated reference) a duration takes the largest
//! unit that divides it exactly, so `90d` stays `90d`.

use std::time::Duration;

use serde::{de, Deserializer, Serializer};

/// Parses `"45s"`, `"500ms"`, `"1h 30m"`; a number without unit is an error
/// that says what to write instead.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} has no unit: write e.g. \"{text}s\" or \"{text}ms\""));
    }
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. \"45s\", \"500ms\" or \"90d\""))
}

/// `d`, `h`, `m`, `s` or `ms`: the largest that divides the duration exactly.
pub fn format(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(u128, &str); 5] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s"), (1, "ms")];
    let (size, unit) = UNITS.iter().copied().find(|(size, _)| ms.is_multiple_of(*size)).unwrap_or((1, "ms"));
    format!("{}{unit}", ms / size)
}

pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*duration))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a duration with its unit, e.g. \"45s\"")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            parse(text).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
            Err(E::custom(format!("{n} has no unit: write e.g. \"{n}s\" or \"{n}ms\"")))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
            Err(E::custom(format!("{n} has no unit: write e.g. \"{n}s\" or \"{n}ms\"")))
        }
    }
    d.deserialize_any(Visitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_round_trip_in_the_largest_exact_one() {
        assert_eq!(parse("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert!(parse("60").unwrap_err().contains("no unit"));
        assert!(parse("soon").unwrap_err().contains("not a duration"));
        for (d, text) in [(Duration::from_secs(90 * 86_400), "90d"), (Duration::from_secs(45), "45s"), (Duration::from_millis(1500), "1500ms"), (Duration::from_secs(120), "2m"), (Duration::ZERO, "0s")] {
            assert_eq!(format(d), text);
            assert_eq!(parse(text), Ok(d));
        }
    }
}
