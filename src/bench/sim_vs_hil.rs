//! The simulator against real Xen: `ballast sim`'s times for the product-path rounds of `ballast
//! hil --timings` on both architectures, beside [`beside_hil::REFERENCE`]'s medians (a run the
//! cost model was not fitted from). The simulator is deterministic, so the ratios are the cost
//! model's, not this machine's.

use crate::checkout;
use crate::sim::beside_hil::{self, Arch, Comparison};

/// Every move of both architectures, simulated and real.
#[derive(Debug, Clone, PartialEq)]
pub struct SimVsHil {
    /// Per architecture, its moves.
    pub arches: Vec<(Arch, Vec<Comparison>)>,
}

impl SimVsHil {
    /// The judged (warm) move whose ratio lies furthest from 1.
    pub fn worst_warm(&self) -> Option<Comparison> {
        self.arches
            .iter()
            .flat_map(|(_, rows)| rows.iter().copied())
            .filter(|row| row.step.judged())
            .max_by(|a, b| (a.ratio() - 1.0).abs().total_cmp(&(b.ratio() - 1.0).abs()))
    }
}

/// Simulate both architectures' rounds and set them beside the reference.
pub fn measure() -> Result<SimVsHil, String> {
    let root = checkout::root()?;
    let mut arches = Vec::new();
    for arch in Arch::ALL {
        let simulated = beside_hil::simulated(arch, &root)?;
        arches.push((
            arch,
            beside_hil::compare(&simulated, &beside_hil::reference(arch)),
        ));
    }
    Ok(SimVsHil { arches })
}
