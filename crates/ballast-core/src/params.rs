//! Parameter-space arithmetic over a module: θ + s·v, ‖θ‖, ⟨u, v⟩ for gradients keyed by
//! parameter id. Used by the hypergradient primitive and the meta-methods.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Maps every parameter that has an entry in `dir` to θ + scale·v (plain models only:
/// on an autodiff model the result would no longer be a leaf).
pub struct AddScaled<'a> {
    pub dir: &'a GradientsParams,
    pub scale: f64,
}

impl ModuleMapper for AddScaled<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.dir.get::<D>(param.id) {
            Some(v) => {
                let s = self.scale;
                param.map(|t| {
                    let v = v.to_device(&t.device());
                    t + v * s
                })
            }
            None => param,
        }
    }
}

/// Accumulates Σ over parameters of a per-tensor scalar reduction, on device.
struct Reduce<'a, F: FnMut(Tensor<1>, Option<Tensor<1>>) -> Option<Tensor<1>>> {
    grads: Option<&'a GradientsParams>,
    other: Option<&'a GradientsParams>,
    f: F,
    acc: Option<Tensor<1>>,
}

impl<F: FnMut(Tensor<1>, Option<Tensor<1>>) -> Option<Tensor<1>>> ModuleVisitor for Reduce<'_, F> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (a, b) = match (self.grads, self.other) {
            (None, _) => (Some(param.val().inner()), None),
            (Some(g), None) => (g.get::<D>(param.id), None),
            (Some(g), Some(o)) => match (g.get::<D>(param.id), o.get::<D>(param.id)) {
                (Some(a), Some(b)) => (Some(a), Some(b)),
                _ => (None, None),
            },
        };
        if let Some(a) = a {
            let n = a.shape().num_elements();
            let a = a.reshape([n]);
            let b = b.map(|b| b.reshape([n]));
            if let Some(part) = (self.f)(a, b) {
                self.acc = Some(match self.acc.take() {
                    Some(acc) => acc + part,
                    None => part,
                });
            }
        }
    }
}

fn reduce<M: Module>(
    model: &M,
    grads: Option<&GradientsParams>,
    other: Option<&GradientsParams>,
    f: impl FnMut(Tensor<1>, Option<Tensor<1>>) -> Option<Tensor<1>>,
) -> f64 {
    let mut r = Reduce {
        grads,
        other,
        f,
        acc: None,
    };
    model.visit(&mut r);
    r.acc.map(|t| t.into_scalar::<f32>() as f64).unwrap_or(0.0)
}

/// Every float tensor of `module` (parameters and running statistics), flattened and
/// concatenated in visit order: what cross-backend and cross-device checks compare. Reads
/// the device.
pub fn flat_values<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().convert::<f32>();
            self.0
                .extend(values.as_slice::<f32>().expect("f32 after convert"));
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

/// ‖θ‖ over all float parameters.
pub fn param_norm<M: Module>(model: &M) -> f64 {
    reduce(model, None, None, |a, _| Some(a.powi_scalar(2).sum())).sqrt()
}

/// ‖v‖ for gradients `v` of `model`'s parameters.
pub fn grad_norm<M: Module>(model: &M, v: &GradientsParams) -> f64 {
    reduce(model, Some(v), None, |a, _| Some(a.powi_scalar(2).sum())).sqrt()
}

/// ⟨u, v⟩ over the parameters present in both.
pub fn grad_dot<M: Module>(model: &M, u: &GradientsParams, v: &GradientsParams) -> f64 {
    reduce(model, Some(u), Some(v), |a, b| b.map(|b| (a * b).sum()))
}

/// ‖θ‖ restricted to parameters that have an entry in `v` (the ones a step moves).
pub fn param_norm_where<M: Module>(model: &M, v: &GradientsParams) -> f64 {
    struct Masked<'a> {
        v: &'a GradientsParams,
        acc: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Masked<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.v.get::<D>(param.id).is_some() {
                let t = param.val().inner();
                let part = t.powi_scalar(2).sum();
                self.acc = Some(match self.acc.take() {
                    Some(acc) => acc + part,
                    None => part,
                });
            }
        }
    }
    let mut m = Masked { v, acc: None };
    model.visit(&mut m);
    m.acc
        .map(|t| (t.into_scalar::<f32>() as f64).sqrt())
        .unwrap_or(0.0)
}
