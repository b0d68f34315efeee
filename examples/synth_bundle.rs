//! Writes a MAL-scale synthetic bundle for load tests of `anirec-serve`:
//! `cargo run --release --no-default-features --features serve --example synth_bundle -- OUT [items users dims per_user]`
//! (defaults: 17000 anime × 128 dims, 50000 users, 100 rated anime each).

use anirec::testdata::bundle::{write_synthetic, BundleSpec};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = a.first() else {
        eprintln!("usage: synth_bundle OUT [items users dims per_user]");
        std::process::exit(2);
    };
    let num = |i: usize, d: usize| a.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let spec = BundleSpec {
        n_items: num(1, 17_000),
        n_users: num(2, 50_000),
        dims: num(3, 128),
        per_user: num(4, 100),
        content: true,
        seed: 42,
        run_id: "synthetic-mal-scale".into(),
    };
    let t = std::time::Instant::now();
    write_synthetic(std::path::Path::new(out), &spec).expect("write bundle");
    eprintln!("wrote {out} in {:.1}s", t.elapsed().as_secs_f64());
}
