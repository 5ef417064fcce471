//! Number and text formatting for narrow columns.

/// Requests per second, 3 significant characters where possible.
pub fn rate(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Seconds as a latency: µs, ms or s.
pub fn latency(seconds: f64) -> String {
    if seconds < 0.001 {
        format!("{:.0}µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.1}ms", seconds * 1e3)
    } else {
        format!("{seconds:.2}s")
    }
}

/// A ratio as a percentage in at most 6 characters: "0.05%", "12.3%", "100%".
pub fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p >= 99.95 {
        "100%".to_string()
    } else if p >= 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.2}%")
    }
}

/// At most `max` characters, with an ellipsis when cut.
/// A duration in seconds as kubectl shows ages: "45s", "12m", "3h", "5d".
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fit_narrow_columns() {
        assert_eq!(rate(12345.0), "12.3k");
        assert_eq!(rate(42.4), "42");
        assert_eq!(rate(0.25), "0.2");
        assert_eq!(latency(0.0004), "400µs");
        assert_eq!(latency(0.0123), "12.3ms");
        assert_eq!(latency(2.5), "2.50s");
        assert_eq!(percent(0.0123), "1.23%");
        assert_eq!(percent(0.5), "50.0%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(clip("connection refused", 10), "connectio…");
    }
}
