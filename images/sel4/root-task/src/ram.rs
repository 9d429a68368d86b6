//! The memory server's RAM as its boot-info page lists it: the blocks left in the untypeds,
//! joined where one ends where the next begins.

use ballast_sel4_plan::boot_info::BOOT_RAM_RUNS;
use ballast_xen::FrameRun;
use heapless::Vec;

use crate::RootError;

/// The runs `blocks` (ascending, not overlapping) make, adjacent ones joined.
pub fn runs(
    blocks: impl IntoIterator<Item = FrameRun>,
) -> Result<Vec<FrameRun, BOOT_RAM_RUNS>, RootError> {
    let mut runs: Vec<FrameRun, BOOT_RAM_RUNS> = Vec::new();
    for block in blocks {
        if let Some(joined) = runs.last().and_then(|last| last.joined(&block)) {
            if let Some(last) = runs.last_mut() {
                *last = joined;
            }
            continue;
        }
        runs.push(block).map_err(|_| RootError::TooManyRamRuns)?;
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_blocks_join_and_gaps_start_new_runs() {
        let blocks = [
            FrameRun::span(0x40400, 0x40800),
            FrameRun::span(0x40800, 0x41000),
            FrameRun::span(0x42000, 0x44000),
        ];
        let runs = runs(blocks).expect("fits");
        assert_eq!(
            runs.as_slice(),
            [
                FrameRun::span(0x40400, 0x41000),
                FrameRun::span(0x42000, 0x44000)
            ]
        );
    }

    #[test]
    fn more_separate_runs_than_a_boot_info_page_holds_are_refused() {
        let apart = (0..=BOOT_RAM_RUNS as u64)
            .map(|index| FrameRun::span(index * 0x400, index * 0x400 + 0x200));
        assert_eq!(runs(apart), Err(RootError::TooManyRamRuns));
        assert_eq!(runs([]).map(|runs| runs.len()), Ok(0));
    }
}
