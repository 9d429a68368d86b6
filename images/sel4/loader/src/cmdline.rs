//! Where the guest command line goes in the root task's image. The root task carries a
//! command-line area (`ballast_sel4_plan::cmdline`) as a loadable segment of its own: page-aligned,
//! starting with the marked, empty area. The loader finds that segment ([`find`]), and once it
//! has copied the root task's segments it writes the area filled with the domU's
//! `/chosen/bootargs` over it ([`Plan::cmdline_load`]), checked first (a command line longer than
//! the area is refused, never cut).

use ballast_sel4_plan::cmdline::{CmdlineArea, CmdlineError};
use zerocopy::IntoBytes;

use crate::elf::{Elf, Segment};
use crate::plan::{Load, Plan, PAGE_BYTES};

/// Why the root task's image has no command-line area to fill. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum AreaError {
    /// No loadable segment starts with the area's mark.
    Missing = 1,
    /// More than one does.
    Several = 2,
    /// The segment does not start on a page.
    NotPageAligned = 3,
    /// The area holds another number of bytes than the loader's: built from other sources.
    OtherCapacity = 4,
}

/// The root task's command-line segment in `root_task`.
pub fn find(root_task: &Elf<'_>) -> Result<Segment, AreaError> {
    let mut found = None;
    for segment in root_task.segments() {
        match CmdlineArea::read(root_task.contents(&segment)) {
            Ok(_) if found.is_some() => return Err(AreaError::Several),
            Ok(_) => found = Some(segment),
            Err(CmdlineError::OtherCapacity) => return Err(AreaError::OtherCapacity),
            Err(_) => {}
        }
    }
    let segment = found.ok_or(AreaError::Missing)?;
    if !segment.virtual_address.is_multiple_of(PAGE_BYTES) {
        return Err(AreaError::NotPageAligned);
    }
    Ok(segment)
}

impl Plan<'_> {
    /// `area` written over the root task's command-line segment `segment` (from [`find`]).
    pub fn cmdline_load<'b>(&self, segment: &Segment, area: &'b CmdlineArea) -> Load<'b> {
        Load {
            destination: self.user_destination(segment),
            bytes: area.as_bytes(),
            zero_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::{build, TestSegment};
    use crate::plan::{Memory, Region, KERNEL_BASE};

    fn segment(virtual_address: u64, contents: Vec<u8>) -> TestSegment {
        TestSegment {
            virtual_address,
            physical_address: virtual_address,
            memory_bytes: PAGE_BYTES.max(contents.len() as u64),
            contents,
        }
    }

    fn empty_area() -> Vec<u8> {
        CmdlineArea::EMPTY.as_bytes().to_vec()
    }

    fn root_task(area_at: &[u64]) -> Vec<u8> {
        let mut segments = vec![segment(0x40_0000, vec![0x11; 64])];
        segments.extend(area_at.iter().map(|&at| segment(at, empty_area())));
        build(0x40_0000, &segments)
    }

    #[test]
    fn the_marked_segment_is_found_and_the_filled_area_goes_to_its_physical_place() {
        let user = root_task(&[0x43_0000]);
        let user_elf = Elf::parse(&user).expect("a root task");
        let found = find(&user_elf).expect("one area");
        assert_eq!(found.virtual_address, 0x43_0000);
        let kernel = build(
            KERNEL_BASE,
            &[TestSegment {
                virtual_address: KERNEL_BASE,
                physical_address: 0x4020_0000,
                contents: vec![0; 16],
                memory_bytes: 0x20_0000,
            }],
        );
        let memory = Memory {
            ram: &[Region {
                start: 0x4000_0000,
                end: 0x5000_0000,
            }],
            reserved: &[],
        };
        let kernel_elf = Elf::parse(&kernel).expect("a kernel");
        let plan = Plan::new(kernel_elf, user_elf, &memory).expect("fits");
        let area = CmdlineArea::holding(b"scenario=balloon").expect("fits");
        let load = plan.cmdline_load(&found, &area);
        assert_eq!(load.destination, plan.user.start + 0x3_0000);
        assert!(load.destination + load.bytes.len() as u64 <= plan.user.end);
        assert_eq!(
            CmdlineArea::read(load.bytes).and_then(|area| area.text().map(str::len)),
            Ok(16)
        );
    }

    #[test]
    fn no_area_two_areas_a_misaligned_one_or_another_capacity_are_refused() {
        let parse = |bytes: &[u8]| find(&Elf::parse(bytes).expect("an ELF")).map(|_| ());
        assert_eq!(parse(&root_task(&[])), Err(AreaError::Missing));
        assert_eq!(
            parse(&root_task(&[0x43_0000, 0x44_0000])),
            Err(AreaError::Several)
        );
        assert_eq!(
            parse(&root_task(&[0x43_0010])),
            Err(AreaError::NotPageAligned)
        );
        let mut other = CmdlineArea::EMPTY;
        other.capacity = 256;
        let foreign = build(
            0x40_0000,
            &[
                segment(0x40_0000, vec![0x11; 64]),
                segment(0x43_0000, other.as_bytes().to_vec()),
            ],
        );
        assert_eq!(parse(&foreign), Err(AreaError::OtherCapacity));
        let mut cut = empty_area();
        cut.truncate(100);
        let short = build(
            0x40_0000,
            &[segment(0x40_0000, vec![0x11; 64]), segment(0x43_0000, cut)],
        );
        assert_eq!(parse(&short), Err(AreaError::Missing), "a cut area is none");
    }
}
