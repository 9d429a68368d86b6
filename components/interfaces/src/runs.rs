//! The frame-run wire format of the `Balloon` interface's leases: runs of (first_gfn, count),
//! 16 bytes each, native-endian like the rest of the wire.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// One run of contiguous guest frames as it travels in a `Balloon` lease.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct WireRun {
    /// The first frame.
    pub first_gfn: u64,
    /// How many frames.
    pub count: u64,
}

/// Bytes per run in a lease.
pub const RUN_BYTES: usize = core::mem::size_of::<WireRun>();

/// How many runs a lease of `bytes` bytes can hold.
pub const fn capacity(bytes: usize) -> usize {
    bytes / RUN_BYTES
}

/// The first `count` runs of a lease, if the lease holds that many.
pub fn read(lease: &[u8], count: usize) -> Option<&[WireRun]> {
    let bytes = lease.get(..count.checked_mul(RUN_BYTES)?)?;
    <[WireRun]>::ref_from_bytes(bytes).ok()
}

/// Writes `runs` at the start of a lease; `None` (and nothing written) if they do not fit.
pub fn write(lease: &mut [u8], runs: impl ExactSizeIterator<Item = WireRun>) -> Option<usize> {
    let count = runs.len();
    let bytes = lease.get_mut(..count.checked_mul(RUN_BYTES)?)?;
    let slots = <[WireRun]>::mut_from_bytes(bytes).ok()?;
    for (slot, run) in slots.iter_mut().zip(runs) {
        *slot = run;
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_through_a_lease() {
        let mut lease = [0u8; 40];
        let runs = [
            WireRun {
                first_gfn: 0x200,
                count: 512,
            },
            WireRun {
                first_gfn: 7,
                count: 1,
            },
        ];
        assert_eq!(write(&mut lease, runs.iter().copied()), Some(2));
        assert_eq!(read(&lease, 2), Some(&runs[..]));
        assert_eq!(capacity(lease.len()), 2);
    }

    #[test]
    fn too_many_runs_are_refused_whole() {
        let mut lease = [0u8; 20];
        let runs = [WireRun::default(); 2];
        assert_eq!(write(&mut lease, runs.iter().copied()), None);
        assert_eq!(lease, [0; 20]);
        assert_eq!(read(&lease, 2), None);
        assert_eq!(read(&lease, usize::MAX), None);
    }
}
