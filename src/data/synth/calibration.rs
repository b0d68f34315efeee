//! The generator's calibration against the real MAL ratings, checked on every test run: at
//! the real sample's size the generated files must show the statistics that
//! `reports/synthetic-vs-real` measured on `mal2020-real-100k` (575 users, 99,999 ratings),
//! within bands wide enough for another seed. The real figures are written here, not read:
//! the tests must run where that data is absent.

use super::testutil::TempDir;
use super::{write_mal2020, SynthSpec};
use crate::data::compare::{dataset_stats, CompareStats};

/// The real sample's size: 575 users over a 13,497-anime catalogue, and enough list rows
/// for ~100k ratings (~30 % of generated rows are unrated).
fn matched(seed: u64) -> CompareStats {
    let spec = SynthSpec {
        users: 575,
        anime: 13_497,
        rows: 142_500,
        seed,
    };
    let dir = TempDir::new("calibration");
    write_mal2020(&spec, &dir.0).expect("generate");
    dataset_stats(&dir.0, "synthetic", &|_, _| {}).expect("statistics")
}

fn within(what: &str, got: f64, lo: f64, hi: f64) {
    assert!(
        (lo..=hi).contains(&got),
        "{what}: {got:.4} is outside {lo}..={hi}"
    );
}

#[test]
fn matched_size_statistics_look_like_the_real_ratings() {
    for seed in [42, 7] {
        let s = matched(seed);
        // Rating histogram: real mean 7.59, peak at 8 (25.8 %), 2.4 % below 4, 13.0 % tens.
        within("mean rating", s.mean_rating, 7.4, 7.8);
        let peak = (0..10).max_by(|&a, &b| s.rating_share[a].total_cmp(&s.rating_share[b]));
        assert_eq!(
            peak,
            Some(7),
            "the histogram must peak at 8: {:?}",
            s.rating_share
        );
        within("share below 4", s.below4_share, 0.015, 0.035);
        within("share of 10s", s.rating_share[9], 0.10, 0.16);
        // Ratings per user: real median 108, p10 14, p90 425 (heavy-tailed both ways).
        within(
            "ratings per user, median",
            s.per_user.median as f64,
            85.0,
            130.0,
        );
        within("ratings per user, p10", s.per_user.p10 as f64, 8.0, 22.0);
        within("ratings per user, p90", s.per_user.p90 as f64, 330.0, 520.0);
        // Popularity concentration: real top-10 % share 56.4 %, Gini 0.702.
        within("top-10% share", s.top10_share, 0.50, 0.62);
        within("Gini", s.gini, 0.64, 0.74);
        // Harsh and generous raters: real sd of per-user means 0.874.
        within("sd of user means", s.user_mean_sd, 0.78, 0.97);
        // Genre shares of the catalogue (real Comedy 34.4 %, Music 6.4 %, Kids 11.9 %).
        let genre = |name: &str| {
            s.genres
                .iter()
                .find(|(g, _)| g == name)
                .map_or(0.0, |(_, share)| *share)
        };
        within("Comedy share", genre("Comedy"), 0.30, 0.39);
        within("Music share", genre("Music"), 0.03, 0.09);
        within("Kids share", genre("Kids"), 0.09, 0.15);
    }
}
