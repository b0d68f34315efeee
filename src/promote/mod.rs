//! `anirec promote`: pick the best run by a metric, verify its bundle, copy
//! it atomically to the serving location with its lineage in `PROMOTED.json`,
//! and register it in Comet's model registry when Comet is configured.
//!
//! The copy is staged next to the destination and swapped in with renames,
//! so `models/promoted` is always either the old complete bundle or the new
//! one. A crash between the two renames leaves the old bundle beside it as
//! `<dest>.old-<pid>`; the next promote puts it back before doing anything.
//!
//! Only an absent path, an empty folder or an anirec bundle is ever replaced
//! (`--to runs` is refused, not wiped), and promotes to one destination are
//! serialised by an OS lock on `<parent>/.<name>.promote.lock`: a second one
//! is refused with the holder named, and each cleans up what a crashed one
//! left (`.<name>.promote-tmp-*`, `<name>.old-*`).

mod candidates;
mod destination;
mod error;
mod record;

pub use error::PromoteError;

use crate::bundle;
use crate::config::SweepGoal;
use crate::Result;
use candidates::Candidate;
use destination::Destination;
use serde_json::Value;
use std::path::PathBuf;

/// Where the ranking comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ranking {
    /// summary.json of each run (the source of truth).
    #[default]
    Local,
    /// The metric as Comet holds it, for runs tracked there.
    Comet,
}

/// What to promote and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run directories, sweep directories, or folders of runs.
    pub sources: Vec<PathBuf>,
    /// Ranking metric, e.g. `ndcg@10`.
    pub metric: String,
    /// Its direction.
    pub goal: SweepGoal,
    /// Destination bundle directory.
    pub to: PathBuf,
    /// Local store or Comet.
    pub from: Ranking,
    /// Comet project for `--from comet` (default: the runs' own project).
    pub project: Option<String>,
    /// Comet model-registry name.
    pub registry_name: String,
    /// Refuse unless the run beats the promoted one significantly.
    pub require_significant: bool,
}

/// The outcome.
#[derive(Debug)]
pub struct Promoted {
    /// Run promoted.
    pub run_dir: PathBuf,
    /// Its metric value.
    pub value: f64,
    /// Where the bundle is now.
    pub dest: PathBuf,
    /// Registry outcome, one line.
    pub registry: String,
}

/// Promotes the best run of `opts.sources`: rank, gate, verify, register,
/// install.
pub fn promote(opts: &Options) -> Result<Promoted> {
    let dest = Destination::claim(&opts.to)?;
    let (candidates, skipped) = candidates::gather(opts)?;
    let best = match opts.from {
        Ranking::Local => candidates::best_local(&candidates, opts.goal),
        Ranking::Comet => candidates::best_on_comet(&candidates, opts)?,
    };
    let Some(best) = best else {
        return Err(nothing_to_promote(opts, &skipped));
    };
    let c: &Candidate = &candidates[best];
    let significance = if opts.require_significant {
        crate::compare::gate::check(&c.dir, &opts.to, &opts.metric, opts.goal)?
    } else {
        Value::Null
    };
    let bundle_dir = bundle::in_run(&c.dir);
    let manifest = bundle::verify(&bundle_dir).map_err(|source| PromoteError::BadBundle {
        dir: c.dir.clone(),
        source,
    })?;
    let comet = candidates::comet_identity(&c.dir);
    let registry = record::register(comet.as_ref(), &manifest.model_kind, opts, c);
    let registry_line = record::registry_line(&registry);
    let record = record::Decision {
        opts,
        chosen: c,
        candidates: &candidates,
        skipped: &skipped,
        manifest: &manifest,
        comet: comet.as_ref(),
        registry,
        significance,
    }
    .record();
    dest.install(&bundle_dir, &record)?;
    Ok(Promoted {
        run_dir: c.dir.clone(),
        value: c.value,
        dest: opts.to.clone(),
        registry: registry_line,
    })
}

fn nothing_to_promote(opts: &Options, skipped: &[String]) -> crate::Error {
    PromoteError::NothingToPromote {
        metric: opts.metric.clone(),
        skipped: if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({})", skipped.join("; "))
        },
    }
    .into()
}
