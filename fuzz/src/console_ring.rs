//! The PV console ring (`ballast_xen::ring::ConsoleRing`), the guest's side, against a console
//! daemon that may write any byte of the shared page at any time, indexes included. A read or
//! write either moves only its own index, by what it reports, within the room the indexes gave,
//! or is refused with a [`RingError`] and leaves every byte of the page as it was.

use arbitrary::Arbitrary;
use core::mem::offset_of;

use ballast_xen::ring::console::{
    XenconsInterface, INPUT, OUTPUT, XENCONS_IN_SIZE, XENCONS_OUT_SIZE,
};
use ballast_xen::ring::{AtomicPage, ConsoleRing, SharedPage};
use ballast_xen::PAGE_SIZE;

const IN_DATA: usize = offset_of!(XenconsInterface, r#in);
const IN_CONS: usize = offset_of!(XenconsInterface, in_cons);
const IN_PROD: usize = offset_of!(XenconsInterface, in_prod);
const OUT_CONS: usize = offset_of!(XenconsInterface, out_cons);
const OUT_PROD: usize = offset_of!(XenconsInterface, out_prod);

/// Moves one input may make.
const MAX_MOVES: usize = 16;

/// One move of either side.
#[derive(Arbitrary, Debug)]
enum Move {
    /// The daemon writes `bytes` at `offset` of the page (any bytes, indexes included).
    Poke { offset: u16, bytes: Vec<u8> },
    /// The daemon stores `value` as the `u32` at `word` (of the page's 1024).
    Store { word: u16, value: u32 },
    /// The daemon produces `bytes` into `in` as a well-behaved console does.
    Type { bytes: Vec<u8> },
    /// The daemon consumes up to `len` bytes of `out`.
    Drain { len: u16 },
    /// The guest reads up to `len` bytes.
    Read { len: u16 },
    /// The guest writes `bytes`.
    Write { bytes: Vec<u8> },
    /// The guest asks how much room `out` has.
    Space,
}

/// The page's bytes, read a word at a time.
fn page_bytes(page: &AtomicPage) -> Vec<u8> {
    let mut bytes = vec![0u8; PAGE_SIZE];
    for (word, out) in bytes.chunks_exact_mut(4).enumerate() {
        out.copy_from_slice(&page.load_u32(word * 4).to_le_bytes());
    }
    bytes
}

fn word(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

/// Play the moves `data` decodes to.
pub fn run(data: &[u8]) {
    let shared = AtomicPage::new();
    let page = &shared;
    let mut ring = ConsoleRing::new(page);
    let mut daemon = page;
    for step in crate::decode_all::<Move>(data, MAX_MOVES) {
        let before = || page_bytes(page);
        match step {
            Move::Poke { offset, bytes } => {
                let offset = usize::from(offset) % PAGE_SIZE;
                let end = (offset + bytes.len()).min(PAGE_SIZE);
                daemon.write(offset, &bytes[..end - offset]);
            }
            Move::Store { word, value } => {
                daemon.store_u32(usize::from(word) % (PAGE_SIZE / 4) * 4, value)
            }
            Move::Type { bytes } => {
                let _ = INPUT.produce(&mut daemon, &bytes);
            }
            Move::Drain { len } => {
                let len = usize::from(len) % (2 * XENCONS_OUT_SIZE as usize + 1);
                let _ = OUTPUT.consume(&mut daemon, &mut vec![0; len]);
            }
            Move::Read { len } => {
                let mut out = vec![0u8; usize::from(len) % (2 * XENCONS_IN_SIZE as usize + 1)];
                let before = before();
                let (cons, prod) = (IN_CONS, IN_PROD);
                let result = ring.read(&mut out);
                let after = page_bytes(page);
                match result {
                    Ok(read) => {
                        let filled = word(&before, prod).wrapping_sub(word(&before, cons));
                        assert!(read <= out.len() && read as u32 <= filled);
                        assert!(filled <= XENCONS_IN_SIZE);
                        let moved = word(&after, cons).wrapping_sub(word(&before, cons));
                        assert_eq!(moved as usize, read, "in_cons moved by what was read");
                        let start = word(&before, cons);
                        for (i, byte) in out[..read].iter().enumerate() {
                            let at =
                                IN_DATA + (start.wrapping_add(i as u32) % XENCONS_IN_SIZE) as usize;
                            assert_eq!(*byte, before[at], "read the byte the ring held");
                        }
                        assert_only_word_moved(&before, &after, cons);
                    }
                    Err(_) => assert_eq!(before, after, "a refused read changed the page"),
                }
            }
            Move::Write { bytes } => {
                let before = before();
                let (cons, prod) = (OUT_CONS, OUT_PROD);
                let result = ring.write(&bytes);
                let after = page_bytes(page);
                match result {
                    Ok(written) => {
                        let filled = word(&before, prod).wrapping_sub(word(&before, cons));
                        assert!(filled <= XENCONS_OUT_SIZE);
                        assert!(written <= bytes.len());
                        assert!(written as u32 <= XENCONS_OUT_SIZE - filled);
                        let moved = word(&after, prod).wrapping_sub(word(&before, prod));
                        assert_eq!(
                            moved as usize, written,
                            "out_prod moved by what was written"
                        );
                    }
                    Err(_) => assert_eq!(before, after, "a refused write changed the page"),
                }
            }
            Move::Space => {
                let before = before();
                let _ = ring.output_space();
                assert_eq!(before, page_bytes(page), "asking for room changed the page");
            }
        }
    }
}

/// Apart from the index at `index`, the page is as it was.
fn assert_only_word_moved(before: &[u8], after: &[u8], index: usize) {
    let mut expected = before.to_vec();
    expected[index..index + 4].copy_from_slice(&after[index..index + 4]);
    assert!(expected == after, "a read changed more than its index");
}
