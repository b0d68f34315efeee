//! Progress bars that draw only on a terminal (indicatif hides itself when
//! stderr is not a TTY, so logs and CI output stay clean).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-count bar for reading files.
pub(crate) fn bytes_bar(msg: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(msg);
    bar
}

/// A count bar (items, epochs, trials).
pub(crate) fn count_bar(msg: impl Into<String>, len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} ({elapsed}, {eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(msg.into());
    bar
}
