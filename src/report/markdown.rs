//! Small markdown helpers for report.md and explore.md.

use std::fmt::Write;

/// Escapes what would break a table cell.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A GitHub-flavoured table. Columns after the first are right-aligned when
/// `numeric` says so.
pub(crate) fn table(headers: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let head: Vec<String> = headers.iter().map(|h| cell(h)).collect();
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let align: Vec<&str> = (0..headers.len())
        .map(|k| {
            if numeric.get(k).copied().unwrap_or(false) {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// A metric value with four decimals; blank when absent.
pub(crate) fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(v) => format!("{v}"),
        None => String::new(),
    }
}

/// An image link, path relative to the markdown file.
pub(crate) fn image(alt: &str, rel: &str) -> String {
    format!("![{}]({})\n", alt.replace(['[', ']'], ""), rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_escapes_and_aligns() {
        let t = table(
            &["name", "value"],
            &[false, true],
            &[
                vec!["a|b".into(), num(Some(0.123456))],
                vec!["c".into(), num(Some(3.0))],
            ],
        );
        assert_eq!(
            t,
            "| name | value |\n|---|---:|\n| a\\|b | 0.1235 |\n| c | 3 |\n"
        );
    }
}
