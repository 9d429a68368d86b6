//! The PV console ring of `console.h`: `struct xencons_interface` and [`ConsoleRing`], the
//! guest's side (it writes `out`, which `xenconsoled` shows to `xl console`, and reads `in`,
//! what the user typed). The `c_headers` test checks the layout against Debian's headers.

use core::mem::offset_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{ByteRing, RingError, SharedPage};

/// Bytes of the `in` ring (console to guest).
pub const XENCONS_IN_SIZE: u32 = 1024;
/// Bytes of the `out` ring (guest to console).
pub const XENCONS_OUT_SIZE: u32 = 2048;

/// `struct xencons_interface`: the console page's layout (the rest of the page is unused).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenconsInterface {
    /// Input to the guest.
    pub r#in: [u8; XENCONS_IN_SIZE as usize],
    /// Output from the guest.
    pub out: [u8; XENCONS_OUT_SIZE as usize],
    /// How far the guest has read `in`.
    pub in_cons: u32,
    /// How far the console has written `in`.
    pub in_prod: u32,
    /// How far the console has read `out`.
    pub out_cons: u32,
    /// How far the guest has written `out`.
    pub out_prod: u32,
}

/// The input ring: the console daemon produces, the guest consumes.
pub const INPUT: ByteRing = ByteRing::new(
    offset_of!(XenconsInterface, r#in),
    XENCONS_IN_SIZE,
    offset_of!(XenconsInterface, in_cons),
    offset_of!(XenconsInterface, in_prod),
);

/// The output ring: the guest produces, the console daemon consumes.
pub const OUTPUT: ByteRing = ByteRing::new(
    offset_of!(XenconsInterface, out),
    XENCONS_OUT_SIZE,
    offset_of!(XenconsInterface, out_cons),
    offset_of!(XenconsInterface, out_prod),
);

/// The guest's side of the console ring. Bytes go out as given (a terminal wants `\r\n`: the
/// caller adds the `\r`); after writing, the caller notifies the console's event channel.
#[derive(Debug)]
pub struct ConsoleRing<P: SharedPage> {
    page: P,
}

impl<P: SharedPage> ConsoleRing<P> {
    /// The guest's side of the console ring in `page`.
    pub fn new(page: P) -> Self {
        ConsoleRing { page }
    }

    /// Write as much of `bytes` into `out` as fits; returns how many were written.
    pub fn write(&mut self, bytes: &[u8]) -> Result<usize, RingError> {
        OUTPUT.produce(&mut self.page, bytes)
    }

    /// Bytes of `out` free for [`write`](Self::write).
    pub fn output_space(&self) -> Result<u32, RingError> {
        OUTPUT.free(&self.page)
    }

    /// Read as many input bytes as `out` holds; returns how many were read.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, RingError> {
        INPUT.consume(&mut self.page, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::AtomicPage;

    #[test]
    fn output_goes_to_the_console_and_input_to_the_guest() {
        let page = AtomicPage::new();
        let mut guest = ConsoleRing::new(&page);
        let mut console = &page;
        assert_eq!(guest.write(&[b'x'; 3000]).unwrap(), 2048);
        assert_eq!(guest.output_space().unwrap(), 0);
        let mut shown = [0u8; 2048];
        assert_eq!(OUTPUT.consume(&mut console, &mut shown).unwrap(), 2048);
        assert_eq!(guest.output_space().unwrap(), 2048);
        assert_eq!(INPUT.produce(&mut console, b"q\r").unwrap(), 2);
        let mut typed = [0u8; 4];
        assert_eq!(guest.read(&mut typed).unwrap(), 2);
        assert_eq!(&typed[..2], b"q\r");
    }

    #[test]
    fn a_console_that_consumed_more_than_was_written_is_refused() {
        let page = AtomicPage::new();
        let mut guest = ConsoleRing::new(&page);
        let mut console = &page;
        console.store_u32(offset_of!(XenconsInterface, out_cons), 1);
        assert_eq!(guest.write(b"hi"), Err(RingError::ConsumerAheadOfProducer));
        assert_eq!(console.load_u32(offset_of!(XenconsInterface, out_prod)), 0);
    }
}
