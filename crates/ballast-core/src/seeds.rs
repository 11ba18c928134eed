//! Per-step seeds. Every random draw of a training step — the host generator of tensor draws
//! (dropout, attack starts, noise: [`crate::host_rng`]) and the host draws of data
//! (augmentation, real perturbations, mixup) — derives from
//! the run seed and the step alone, so a resumed run draws exactly what an uninterrupted one
//! does, and the page's playground draws what a native run with its seed would.

/// A stream of per-step seeds: seed · multiplier + step + 1 (wrapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepSeeds {
    multiplier: u64,
}

impl StepSeeds {
    /// Classifier runs (every method that trains a classifier) and the playground.
    pub const CLASSIFIER: StepSeeds = StepSeeds {
        multiplier: 0x9E37_79B9_7F4A_7C15,
    };
    /// Runs that train a perturbation set: a stream of their own (the multiplier of the first
    /// recorded CVAE runs, kept so they reproduce).
    pub const PERTURBATION_SET: StepSeeds = StepSeeds {
        multiplier: 0xD1B5_4A32_D192_ED03,
    };

    /// The seed of 0-based `step` of a run seeded with `seed`.
    pub fn at(self, seed: u64, step: usize) -> u64 {
        seed.wrapping_mul(self.multiplier)
            .wrapping_add(step as u64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_run_seed_step_and_stream_only() {
        let s = StepSeeds::CLASSIFIER;
        assert_eq!(s.at(3, 10), s.at(3, 10));
        assert_ne!(s.at(3, 10), s.at(3, 11));
        assert_ne!(s.at(3, 10), s.at(4, 10));
        assert_ne!(s.at(3, 10), StepSeeds::PERTURBATION_SET.at(3, 10));
        assert_eq!(s.at(0, 0), 1);
    }
}
