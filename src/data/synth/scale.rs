//! Named sizes for `anirec data synth --scale`, so the sizes that matter are typed once.

use super::SynthSpec;

/// A preset data-set size (the seed stays the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// What experiments/quickstart.yaml runs on (configs/synthetic.yaml):
    /// 2,000 users x 2,500 anime, 300k rows.
    Quickstart,
    /// The original project's 5M-row working set (configs/synthetic-mal-scale.yaml):
    /// 4,200 users x 17,000 anime, 5.7M rows (~4M rated).
    #[value(name = "mal-5m")]
    Mal5m,
    /// The whole Kaggle MAL 2020 animelist.csv: 325,000 users x 17,500 anime, 70M rows.
    #[value(name = "mal-full")]
    MalFull,
}

impl Scale {
    /// The spec of this size with `seed`.
    pub fn spec(self, seed: u64) -> SynthSpec {
        let (users, anime, rows) = match self {
            Scale::Quickstart => (2_000, 2_500, 300_000),
            Scale::Mal5m => (4_200, 17_000, 5_700_000),
            Scale::MalFull => (325_000, 17_500, 70_000_000),
        };
        SynthSpec {
            users,
            anime,
            rows,
            seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::validate;

    #[test]
    fn presets_are_valid_and_match_the_configs_they_name() {
        use clap::ValueEnum;
        for s in Scale::value_variants() {
            let spec = s.spec(42);
            assert!(validate(&spec).is_ok(), "{s:?}: {spec:?}");
        }
        // quickstart is the generator's default, which configs/synthetic.yaml spells out.
        assert_eq!(Scale::Quickstart.spec(42), SynthSpec::default());
        let cfg = |path: &str| {
            let text = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
            )
            .expect("config in the repository");
            text.lines()
                .find(|l| l.trim_start().starts_with("synth:"))
                .map(str::to_owned)
                .expect("synth line")
        };
        let spec_line = |s: &SynthSpec| {
            format!(
                "synth: {{users: {}, anime: {}, rows: {}, seed: {}}}",
                s.users, s.anime, s.rows, s.seed
            )
        };
        assert_eq!(
            cfg("configs/synthetic.yaml").trim(),
            spec_line(&Scale::Quickstart.spec(42))
        );
        assert_eq!(
            cfg("configs/synthetic-mal-scale.yaml").trim(),
            spec_line(&Scale::Mal5m.spec(42))
        );
        let full = Scale::MalFull.spec(1);
        assert!(full.rows >= 70_000_000 && full.users >= 300_000);
    }
}
