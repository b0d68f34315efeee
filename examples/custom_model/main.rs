//! The anirec CLI with one more model kind, `item_knn` (README "Adding a
//! model"): the model is `item_knn.rs`; this file registers it and runs
//! the stock CLI, so `run`, `sweep`, `compare`, `report`, `recommend` and
//! the bundle `anirec-serve` loads all work with it unchanged.
//!
//! `cargo run --release --example custom_model -- run experiments/examples/item_knn.yaml`

mod item_knn;

use anirec::cli::{self, Cli};
use anirec::model::kinds;
use clap::Parser;

fn main() {
    if let Err(e) = kinds::register(kinds::kind::<item_knn::ItemKnn>()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let cli = Cli::parse();
    cli::init_logging(cli.log_format());
    if let Err(e) = cli::dispatch(cli) {
        eprintln!("error: {e}");
        std::process::exit(i32::from(e.exit_code()));
    }
}
