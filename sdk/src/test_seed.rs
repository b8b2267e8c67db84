//! Seeds for the randomised model tests: a failing run can be repeated exactly.
use quickcheck::Gen;

/// This run's generator for `test`: seeded from `PADDOCK_QC_SEED` if it is set, else from
/// a random seed. The seed is printed (cargo test shows it with a failure), so
/// `PADDOCK_QC_SEED=<seed> cargo test <test>` repeats the run.
pub fn gen(test: &str, size: usize) -> Gen {
    let seed = std::env::var("PADDOCK_QC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("{test}: seed {seed} (PADDOCK_QC_SEED={seed} repeats this run)");
    Gen::from_size_and_seed(size, seed)
}
