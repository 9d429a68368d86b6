//! The guest command line on its way from the loader to every protection domain. seL4 5.0 hands
//! the root task no device tree, so the loader, which reads the domU's `/chosen/bootargs` (Xen
//! puts the `bootargs` of the dom0less domain's kernel module there), writes it into an area the
//! root task's image carries for that purpose: a [`CmdlineArea`] at the start of a loadable
//! segment of its own, page-aligned, marked by [`CMDLINE_MAGIC`] and its capacity (the root
//! task's linker script makes that segment). The root task reads the area back, checks it, and
//! copies the command line into every PD's boot-info page ([`crate::PdBootInfo::cmdline`]).
//!
//! The area as the root task's ELF carries it is [`CmdlineArea::EMPTY`]: the loader recognises it
//! by the magic and the capacity and overwrites it whole. A command line longer than
//! [`CMDLINE_BYTES`] is refused where it is found (the loader stops), never cut.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The first word of the area: "BALLASTA" in little-endian bytes.
pub const CMDLINE_MAGIC: u64 = u64::from_le_bytes(*b"BALLASTA");
/// The longest command line that reaches the PDs, in bytes.
pub const CMDLINE_BYTES: usize = 1024;

/// The area the loader fills: a header, then the command line's bytes (UTF-8, no terminator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct CmdlineArea {
    /// [`CMDLINE_MAGIC`].
    pub magic: u64,
    /// [`CMDLINE_BYTES`], as the root task was built with it.
    pub capacity: u32,
    /// Bytes of `bytes` that are the command line.
    pub length: u32,
    /// The command line, zero past `length`.
    pub bytes: [u8; CMDLINE_BYTES],
}

/// Why a command line does not pass from the loader to the PDs. C-like, zero reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CmdlineError {
    /// The bytes are no area: too short, or not starting with [`CMDLINE_MAGIC`].
    NotAnArea = 1,
    /// The area holds another number of bytes than [`CMDLINE_BYTES`]: the loader and the root
    /// task were built from different sources.
    OtherCapacity = 2,
    /// The command line is longer than [`CMDLINE_BYTES`].
    TooLong = 3,
    /// The command line is not UTF-8.
    NotUtf8 = 4,
}

impl CmdlineError {
    /// A one-line explanation, for the console.
    pub const fn describe(self) -> &'static str {
        match self {
            CmdlineError::NotAnArea => "no command-line area (magic missing)",
            CmdlineError::OtherCapacity => {
                "the command-line area has another capacity (loader and root task built apart)"
            }
            CmdlineError::TooLong => "the command line is longer than the area holds",
            CmdlineError::NotUtf8 => "the command line is not UTF-8",
        }
    }
}

impl core::fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}

/// `bytes` as UTF-8, refused past [`CMDLINE_BYTES`].
pub fn checked(bytes: &[u8]) -> Result<&str, CmdlineError> {
    if bytes.len() > CMDLINE_BYTES {
        return Err(CmdlineError::TooLong);
    }
    core::str::from_utf8(bytes).map_err(|_| CmdlineError::NotUtf8)
}

impl CmdlineArea {
    /// The area as the root task's image carries it: marked, empty.
    pub const EMPTY: CmdlineArea = CmdlineArea {
        magic: CMDLINE_MAGIC,
        capacity: CMDLINE_BYTES as u32,
        length: 0,
        bytes: [0; CMDLINE_BYTES],
    };

    /// The area at the start of `bytes` (of any alignment), if it is one with this capacity.
    pub fn read(bytes: &[u8]) -> Result<CmdlineArea, CmdlineError> {
        let (area, _) =
            CmdlineArea::read_from_prefix(bytes).map_err(|_| CmdlineError::NotAnArea)?;
        if area.magic != CMDLINE_MAGIC {
            return Err(CmdlineError::NotAnArea);
        }
        if area.capacity != CMDLINE_BYTES as u32 {
            return Err(CmdlineError::OtherCapacity);
        }
        Ok(area)
    }

    /// An area holding `text` (raw bytes, as a device tree gives them: the loader does not
    /// interpret them, the root task checks them), or why it cannot.
    pub fn holding(text: &[u8]) -> Result<CmdlineArea, CmdlineError> {
        if text.len() > CMDLINE_BYTES {
            return Err(CmdlineError::TooLong);
        }
        let mut area = CmdlineArea::EMPTY;
        area.bytes[..text.len()].copy_from_slice(text);
        area.length = text.len() as u32;
        Ok(area)
    }

    /// The command line it holds, checked: within the capacity and UTF-8.
    pub fn text(&self) -> Result<&str, CmdlineError> {
        let length = usize::try_from(self.length).map_err(|_| CmdlineError::TooLong)?;
        checked(self.bytes.get(..length).ok_or(CmdlineError::TooLong)?)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    #[test]
    fn a_filled_area_reads_back_from_bytes_of_any_alignment() {
        let area = CmdlineArea::holding(b"scenario=isolation target_mib=64").expect("fits");
        let mut bytes = Vec::from([0xee]);
        bytes.extend_from_slice(area.as_bytes());
        let read = CmdlineArea::read(&bytes[1..]).expect("an area");
        assert_eq!(read.text(), Ok("scenario=isolation target_mib=64"));
        assert_eq!(
            CmdlineArea::read(CmdlineArea::EMPTY.as_bytes()).map(|area| area.length),
            Ok(0)
        );
        assert_eq!(CmdlineArea::EMPTY.text(), Ok(""));
    }

    #[test]
    fn a_command_line_fills_the_area_exactly_and_one_byte_more_is_refused() {
        let full = [b'a'; CMDLINE_BYTES];
        let area = CmdlineArea::holding(&full).expect("exactly the capacity");
        assert_eq!(area.text().map(str::len), Ok(CMDLINE_BYTES));
        let over = [b'a'; CMDLINE_BYTES + 1];
        assert_eq!(CmdlineArea::holding(&over), Err(CmdlineError::TooLong));
        assert_eq!(checked(&over), Err(CmdlineError::TooLong));
    }

    #[test]
    fn unmarked_short_or_foreign_bytes_are_no_area_and_a_bad_length_or_text_is_refused() {
        let bytes = CmdlineArea::EMPTY.as_bytes();
        assert_eq!(
            CmdlineArea::read(&bytes[..bytes.len() - 1]),
            Err(CmdlineError::NotAnArea)
        );
        let mut unmarked = Vec::from(bytes);
        unmarked[0] ^= 1;
        assert_eq!(CmdlineArea::read(&unmarked), Err(CmdlineError::NotAnArea));
        let mut other = CmdlineArea::EMPTY;
        other.capacity = 256;
        assert_eq!(
            CmdlineArea::read(other.as_bytes()),
            Err(CmdlineError::OtherCapacity)
        );
        let mut past = CmdlineArea::EMPTY;
        past.length = CMDLINE_BYTES as u32 + 1;
        assert_eq!(past.text(), Err(CmdlineError::TooLong));
        let latin1 = CmdlineArea::holding(b"name=caf\xe9").expect("fits");
        assert_eq!(latin1.text(), Err(CmdlineError::NotUtf8));
    }
}
