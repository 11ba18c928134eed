//! Training methods. [`Method`] names every method a run can use — its config name, label,
//! family and what it needs, all declared in the method's own file — and [`MethodState`]
//! runs one: the state the method keeps between steps (a weighting network and its
//! optimiser, loss hyperparameters, SSDS's per-example store and duals, a perturbation set,
//! a catastrophic-overfitting check, …) and its one step. The native trainer, `ballast bench`
//! and the page's playground all train through [`MethodState::step`].
//!
//! Adding a method is one file here — the maths of its step and a type implementing
//! [`MethodDef`] — and one line in the registry below. Its knobs, when it has its own, live
//! in a `[<name>]` table of the run config, parsed by [`MethodDef::Options`].

mod adversarial;
mod config;
mod erm;
mod glc;
mod learned_weighting;
mod mart;
mod meta_loss;
mod meta_module;
mod perturbation;
mod reweighting;
mod ssds;
mod state;

pub use adversarial::{fgsm_rs_attack, pgd_attack};
pub use config::{
    AdversarialConfig, InputScale, MetaConfig, MethodConfig, MethodOptions, NoOptions,
};
pub use perturbation::{CvaeStep, cvae_step};
pub use ssds::SsdsStore;
pub use state::{
    EpochCheck, EpochVerdict, Family, MethodDef, MethodInfo, MethodSetup, MethodState, MethodStep,
    StateFile, StepContext, StepOutput, TrainedRuns, Trains, Uses,
};

use crate::error::CoreError;

/// Declares [`Method`] from `Variant => Type` lines: the enum, its list, and the dispatch to
/// each type's [`MethodDef`].
macro_rules! registry {
    ($($variant:ident => $def:ty),+ $(,)?) => {
        /// Every training method (`method = "…"` in a run config); see [`Method::info`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Method {
            $($variant),+
        }

        impl Method {
            /// Every method, in registry order.
            pub const ALL: &'static [Method] = &[$(Method::$variant),+];

            /// Name, label, family and needs, as declared by the method's file.
            pub fn info(self) -> &'static MethodInfo {
                match self {
                    $(Method::$variant => &<$def as MethodDef>::INFO),+
                }
            }

            /// Checks the settings the method reads and resolves its `[<name>]` options
            /// (defaults filled in), returning them as a JSON object.
            pub fn resolve(
                self,
                cfg: &MethodConfig,
            ) -> Result<serde_json::Value, CoreError> {
                match self {
                    $(Method::$variant => state::resolve::<$def>(cfg)),+
                }
            }

            fn build(
                self,
                cfg: &MethodConfig,
                setup: &MethodSetup,
            ) -> Result<Box<dyn MethodStep>, CoreError> {
                Ok(match self {
                    $(Method::$variant => Box::new(<$def as MethodDef>::new(cfg, setup)?)),+
                })
            }
        }
    };
}

registry! {
    Erm => erm::Erm,
    L2rw => reweighting::L2rw,
    Random => reweighting::RandomWeights,
    ClassRatio => reweighting::ClassRatio,
    Mwn => learned_weighting::Mwn,
    Teacher => learned_weighting::Teacher,
    MetaLoss => meta_loss::MetaLoss,
    Glc => glc::Glc,
    PgdAt => adversarial::PgdAt,
    FgsmRs => adversarial::FgsmRs,
    Trades => adversarial::Trades,
    Mart => mart::Mart,
    Ssds => ssds::Ssds,
    Cvae => perturbation::CvaeTraining,
    LatentAt => perturbation::LatentAt,
    CvaeAug => perturbation::CvaeAug,
    TransformAug => perturbation::TransformAug,
}

impl Method {
    /// The config name (`method = "…"`).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The name people know the method by (tables, the page).
    pub fn label(self) -> &'static str {
        self.info().label
    }

    pub fn family(self) -> Family {
        self.info().family
    }

    /// Whether the method trains against an ℓp attack (its runs evaluate robustness every
    /// epoch by default).
    pub fn is_adversarial(self) -> bool {
        self.info().uses.attack
    }

    /// Whether the method needs a trained perturbation set (`perturbation.cvae`).
    pub fn needs_perturbation_set(self) -> bool {
        self.info().uses.perturbation_set
    }

    /// Whether the method reads the clean validation split during training.
    pub fn needs_validation(self) -> bool {
        self.info().uses.validation
    }

    /// Every config name, comma-separated (for error messages and help).
    pub fn names() -> String {
        Method::ALL
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                CoreError::config(format!(
                    "unknown method `{s}`; the methods are: {}",
                    Method::names()
                ))
            })
    }
}

impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
