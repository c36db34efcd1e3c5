//! Durations (`"200ms"`, `"30s"`, `"5m"`, `"1h"`) and sizes (`"10MiB"`, `"100MB"`, `"4Gi"`) as the seed writes them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A span of time written with a unit: `ms`, `s`, `m` or `h` (`"200ms"`, `"1h30m"` is not accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

/// A number of bytes: `KB`/`MB`/`GB`/`TB` are powers of 1000; `KiB`/`MiB`/`GiB`/`TiB` and `Ki`/`Mi`/`Gi`/`Ti`
/// powers of 1024; `B` or a bare JSON integer is bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

// === impl Duration ===

impl Duration {
    /// A duration of whole seconds.
    pub const fn secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }

    /// A duration of whole milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    /// Parses `"<integer><unit>"`; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| "a duration needs a unit: ms, s, m or h (e.g. \"30s\")".to_string())?;
        let (num, unit) = text.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            "a duration is a whole number followed by ms, s, m or h (e.g. \"30s\")".to_string()
        })?;
        let ms_per = match unit.trim() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => {
                return Err(format!(
                    "unknown duration unit `{}`: use ms, s, m or h",
                    unit.trim()
                ));
            }
        };
        let ms = n
            .checked_mul(ms_per)
            .ok_or_else(|| "duration is too large".to_string())?;
        Ok(Self::millis(ms))
    }

    /// The value as std's duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (per, unit) in [(3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
            if ms.is_multiple_of(per) {
                return write!(f, "{}{unit}", ms / per);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

// === impl ByteSize ===

impl ByteSize {
    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }

    /// Parses `"<integer><unit>"`; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (num, unit) = text.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            "a size is a whole number followed by a unit such as KB, MiB or Gi (e.g. \"10MiB\")"
                .to_string()
        })?;
        let per: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "KiB" | "Ki" => 1 << 10,
            "MiB" | "Mi" => 1 << 20,
            "GiB" | "Gi" => 1 << 30,
            "TiB" | "Ti" => 1 << 40,
            other => {
                return Err(format!(
                    "unknown size unit `{other}`: use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB, Ki, Mi, Gi, Ti (powers of 1024)"
                ));
            }
        };
        n.checked_mul(per)
            .map(Self)
            .ok_or_else(|| "size is too large".to_string())
    }

    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b == 0 {
            return f.write_str("0B");
        }
        for (per, unit) in [
            (1u64 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
            (1_000_000_000_000, "TB"),
            (1_000_000_000, "GB"),
            (1_000_000, "MB"),
            (1_000, "KB"),
        ] {
            if b.is_multiple_of(per) {
                return write!(f, "{}{unit}", b / per);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"10MiB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("200ms").unwrap(), Duration::millis(200));
        assert_eq!(Duration::parse("30s").unwrap(), Duration::secs(30));
        assert_eq!(Duration::parse("5m").unwrap(), Duration::secs(300));
        assert_eq!(Duration::parse("1h").unwrap(), Duration::secs(3600));
        assert!(Duration::parse("30").is_err());
        assert!(Duration::parse("30d").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("-1s").is_err());
        assert_eq!(Duration::secs(120).to_string(), "2m");
        assert_eq!(Duration::millis(1500).to_string(), "1500ms");
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("100MB").unwrap().bytes(), 100_000_000);
        assert_eq!(ByteSize::parse("10MiB").unwrap().bytes(), 10 << 20);
        assert_eq!(ByteSize::parse("4Gi").unwrap().bytes(), 4 << 30);
        assert_eq!(ByteSize::parse("64KiB").unwrap().bytes(), 64 << 10);
        assert_eq!(ByteSize::parse("512").unwrap().bytes(), 512);
        assert!(ByteSize::parse("10mb").is_err());
        assert!(ByteSize::parse("MB").is_err());
        assert_eq!(ByteSize::mib(10).to_string(), "10MiB");
        assert_eq!(ByteSize(100_000_000).to_string(), "100MB");
    }
}
