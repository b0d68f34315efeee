//! `anirec recommend`: top-k lists of a run's model for all or some users,
//! written by [`pipeline::recommend`] in the PROTOCOL recs.csv format.

use crate::pipeline::{self, UserSelection};
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

/// `anirec recommend --run RUN_DIR --out recs.csv [--users all|IDS] [--k K]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  anirec recommend --run runs/quickstart/<run-id> --users all --k 10 --out recs.csv
  anirec recommend --run runs/quickstart/<run-id> --users 3,17 --k 20 --out two.csv")]
pub(super) struct RecommendArgs {
    /// Run directory (holds bundle/).
    #[arg(long)]
    run: PathBuf,
    /// `all`, or comma-separated raw user ids.
    #[arg(long, default_value = "all")]
    users: String,
    /// List length.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Output CSV.
    #[arg(long)]
    out: PathBuf,
}

/// Writes the lists and says how many rows it wrote.
pub(super) fn run(a: RecommendArgs) -> Result<()> {
    if a.k == 0 {
        return Err(Error::Usage("--k must be at least 1".into()));
    }
    let sel = users(&a.users)?;
    let n = pipeline::recommend(&a.run, &sel, a.k, &a.out)?;
    println!("wrote {n} recommendations to {}", a.out.display());
    Ok(())
}

/// `--users`: `all`, or raw user ids separated by commas. Parsed here rather
/// than by a clap value parser so the error keeps its own wording (and exit
/// code 2 through [`Error::Usage`]).
fn users(arg: &str) -> Result<UserSelection> {
    if arg == "all" {
        return Ok(UserSelection::All);
    }
    let ids = arg
        .split(',')
        .map(|u| {
            u.trim().parse::<u32>().map_err(|_| {
                Error::Usage(format!(
                    "--users: {u:?} is not a user id; use `all` or ids like 3,17"
                ))
            })
        })
        .collect::<Result<_>>()?;
    Ok(UserSelection::Ids(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_is_all_or_a_list_of_ids_and_names_a_bad_one() {
        assert!(matches!(users("all"), Ok(UserSelection::All)));
        match users("3, 17") {
            Ok(UserSelection::Ids(ids)) => assert_eq!(ids, vec![3, 17]),
            other => panic!("{other:?}"),
        }
        let e = users("3,x").unwrap_err();
        assert!(e.to_string().contains("\"x\" is not a user id"), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
    }
}
