//! Range checks shared by every model's `check()`: a number read from a
//! config must be bounded before it sizes an allocation or a loop, and the
//! error names the key and what is allowed.

/// A model key whose value is outside its allowed range. The config layer
/// adds the file and the key's full path (`model.members.0.alpha`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The key inside the model section (`alpha`).
    pub key: &'static str,
    /// The bad value and what is allowed.
    pub msg: String,
}

impl ParamError {
    /// An error for `key` with a free-form message.
    pub fn new(key: &'static str, msg: impl Into<String>) -> Self {
        Self {
            key,
            msg: msg.into(),
        }
    }
}

/// `v` must be finite and in `lo..=hi` (or `(lo, hi]` when `lo_open`).
pub fn float(key: &'static str, v: f64, lo: f64, lo_open: bool, hi: f64) -> Result<(), ParamError> {
    let above = if lo_open { v > lo } else { v >= lo };
    if v.is_finite() && above && v <= hi {
        return Ok(());
    }
    let open = if lo_open { "(" } else { "[" };
    Err(ParamError::new(
        key,
        format!("{v} is not allowed; allowed: a number in {open}{lo}, {hi}]"),
    ))
}

/// `v` must be an integer in `lo..=hi`.
pub fn int(key: &'static str, v: u64, lo: u64, hi: u64) -> Result<(), ParamError> {
    if (lo..=hi).contains(&v) {
        return Ok(());
    }
    Err(ParamError::new(
        key,
        format!("{v} is not allowed; allowed: an integer in [{lo}, {hi}]"),
    ))
}

/// The keys every epoch-trained model shares: `epochs`, and `lr` or the
/// `lr_schedule` that replaces it, bounded alike in every kind.
pub fn training(
    epochs: u32,
    lr: f64,
    schedule: Option<&crate::config::LrSchedule>,
) -> Result<(), ParamError> {
    int("epochs", u64::from(epochs), 1, 100_000)?;
    float("lr", lr, 0.0, true, 10.0)?;
    schedule.map_or(Ok(()), |s| s.check())
}

/// An optional `min_rating` (liked-only fitting): a rating scale value.
pub fn min_rating(v: Option<f64>) -> Result<(), ParamError> {
    v.map_or(Ok(()), |v| float("min_rating", v, 0.0, false, 1e6))
}

/// Largest neighbour/factor/top-k style count any model accepts: far above
/// any catalogue this harness loads (17,000 anime), far below what would
/// overflow an allocation.
pub const MAX_COUNT: u64 = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_key_and_the_range() {
        assert!(float("l2", 1.0, 0.0, true, 10.0).is_ok());
        let e = float("l2", 0.0, 0.0, true, 10.0).unwrap_err();
        assert_eq!(e.key, "l2");
        assert!(e.msg.contains("(0, 10]"), "{}", e.msg);
        assert!(float("l2", f64::NAN, 0.0, false, 10.0).is_err());
        assert!(float("p", 0.0, 0.0, false, 1.0).is_ok());
        let e = int("neighbors", 4_611_686_018_427_387_904, 1, MAX_COUNT).unwrap_err();
        assert!(e.msg.contains("[1, 1000000]"), "{}", e.msg);
    }
}
