//! The bodies of ballast's fuzz targets, one module each: every target feeds libFuzzer's bytes to
//! a real entry point of the project (no re-implementation) and panics on anything the project
//! promises cannot happen, so a finding is a crash libFuzzer keeps. `fuzz_targets/` holds the
//! thin `fuzz_target!` binaries over these; `scripts/fuzz` builds and runs them.

pub mod console_ring;
pub mod gateway_ipc;
pub mod grant_offer;
pub mod manifest;
pub mod memory_ipc;
pub mod rig;
pub mod scenario;
pub mod snapshot;
pub mod xenstore_agent;

use arbitrary::{Arbitrary, Unstructured};

/// The first `max` values of type `T` that `data` decodes to, one after another, stopping when
/// the bytes run out (`arbitrary` would otherwise go on with zeros for ever).
pub fn decode_all<'a, T: Arbitrary<'a>>(
    data: &'a [u8],
    max: usize,
) -> impl Iterator<Item = T> + 'a {
    let mut bytes = Unstructured::new(data);
    core::iter::from_fn(move || {
        if bytes.is_empty() {
            None
        } else {
            T::arbitrary(&mut bytes).ok()
        }
    })
    .take(max)
}
