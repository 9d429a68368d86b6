//! The defmt global logger, with the PVH image's serial framing: defmt's rzcobs frames are cut
//! into text lines `~defmt~ <lowercase hex>\n` of at most [`CHUNK_BYTES`] encoded bytes, each
//! written with one `console_io` call, so that Xen's `(d1) ` prefix and Xen's own lines never
//! split one. The host concatenates the hex of every marked line into one stream.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::console::Console;

/// The marker that starts every defmt line.
const LINE_MARKER: &[u8] = b"~defmt~ ";
/// Encoded bytes per line.
const CHUNK_BYTES: usize = 96;
const LINE_BYTES: usize = LINE_MARKER.len() + 2 * CHUNK_BYTES + 1;

/// Encoded bytes on their way to the console, cut into marked hex lines.
struct Lines {
    console: Option<Console>,
    pending: heapless::Vec<u8, CHUNK_BYTES>,
}

impl Lines {
    fn emit(&mut self, encoded: &[u8]) {
        for &byte in encoded {
            if self.pending.is_full() {
                self.send_line();
            }
            self.pending.push(byte).ok();
        }
    }

    fn send_line(&mut self) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        if self.pending.is_empty() {
            return;
        }
        let mut line: heapless::Vec<u8, LINE_BYTES> = heapless::Vec::new();
        line.extend_from_slice(LINE_MARKER).ok();
        for &byte in &self.pending {
            line.push(DIGITS[usize::from(byte >> 4)]).ok();
            line.push(DIGITS[usize::from(byte & 0xf)]).ok();
        }
        line.push(b'\n').ok();
        if let Some(console) = self.console.as_mut() {
            console.write(&line);
        }
        self.pending.clear();
    }
}

struct State {
    encoder: defmt::Encoder,
    lines: Lines,
}

struct Shared(UnsafeCell<State>);

// SAFETY: one vCPU, interrupts masked; every access to the state happens while `BUSY` is held
// (taken with a swap in `acquire`/`locked`, given back in `release`/`locked`).
unsafe impl Sync for Shared {}

static STATE: Shared = Shared(UnsafeCell::new(State {
    encoder: defmt::Encoder::new(),
    lines: Lines {
        console: None,
        pending: heapless::Vec::new(),
    },
}));
static BUSY: AtomicBool = AtomicBool::new(false);

fn locked<T>(f: impl FnOnce(&mut State) -> T) -> Option<T> {
    if BUSY.swap(true, Ordering::Acquire) {
        return None;
    }
    // SAFETY: `BUSY` was clear and is now held: no other reference to the state exists.
    let result = f(unsafe { &mut *STATE.0.get() });
    BUSY.store(false, Ordering::Release);
    Some(result)
}

/// Send log output to `console` from now on.
pub fn init(console: Console) {
    locked(|state| state.lines.console = Some(console));
}

/// Write plain text (not defmt) if the logger is not busy; whether it was free.
pub fn write_raw(text: &[u8]) -> bool {
    locked(|state| {
        if let Some(console) = state.lines.console.as_mut() {
            console.write(text);
        }
    })
    .is_some()
}

#[defmt::global_logger]
struct XenConsoleLogger;

// SAFETY: `acquire` takes `BUSY` and `release` clears it, so frames never interleave; `write` and
// `flush` run only between them (defmt's contract).
unsafe impl defmt::Logger for XenConsoleLogger {
    fn acquire() {
        if BUSY.swap(true, Ordering::Acquire) {
            crate::exit::halt_logger_reentered();
        }
        // SAFETY: `BUSY` is held until `release`.
        let State { encoder, lines } = unsafe { &mut *STATE.0.get() };
        encoder.start_frame(|bytes| lines.emit(bytes));
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: after `acquire` (defmt's contract): `BUSY` is held.
        let State { encoder, lines } = unsafe { &mut *STATE.0.get() };
        encoder.end_frame(|bytes| lines.emit(bytes));
        lines.send_line();
        BUSY.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: between `acquire` and `release` (defmt's contract): `BUSY` is held.
        let State { encoder, lines } = unsafe { &mut *STATE.0.get() };
        encoder.write(bytes, |encoded| lines.emit(encoded));
    }
}
