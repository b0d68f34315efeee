//! The anirec CLI: parses arguments, calls the library, maps errors to exit codes.

use anirec::cli::{self, Cli};
use clap::Parser;

fn main() {
    let cli = Cli::parse();
    cli::init_logging(cli.log_format());
    if let Err(e) = cli::dispatch(cli) {
        eprintln!("error: {e}");
        std::process::exit(i32::from(e.exit_code()));
    }
}
