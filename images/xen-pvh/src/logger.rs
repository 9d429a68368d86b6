//! The defmt global logger. defmt frames are rzcobs-encoded, and because they share Xen's serial
//! line with Xen's own text, every chunk of encoded bytes goes out as one text line:
//!
//! ```text
//! ~defmt~ 0a1b2c...\n
//! ```
//!
//! `~defmt~ ` then lowercase hex, up to [`CHUNK_BYTES`] bytes per line, each line in one console
//! write. Text before the marker (Xen's `(d1) ` prefix for a domU) is ignored by the host, which
//! concatenates the hex of every marked line into one rzcobs stream (frames end with a zero byte,
//! so line boundaries need not match frame boundaries).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::console::Console;

/// The marker that starts every defmt line.
pub const LINE_MARKER: &[u8] = b"~defmt~ ";
/// Encoded bytes per line.
pub const CHUNK_BYTES: usize = 96;
const LINE_BYTES: usize = LINE_MARKER.len() + 2 * CHUNK_BYTES + 1;

/// Encoded bytes on their way to the console, cut into marked hex lines.
struct LineSink {
    console: Option<Console>,
    chunk: heapless::Vec<u8, CHUNK_BYTES>,
}

impl LineSink {
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.chunk.is_full() {
                self.flush_line();
            }
            self.chunk.push(byte).ok();
        }
    }

    fn flush_line(&mut self) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        if self.chunk.is_empty() {
            return;
        }
        let mut line: heapless::Vec<u8, LINE_BYTES> = heapless::Vec::new();
        line.extend_from_slice(LINE_MARKER).ok();
        for &byte in &self.chunk {
            line.push(HEX[usize::from(byte >> 4)]).ok();
            line.push(HEX[usize::from(byte & 0xf)]).ok();
        }
        line.push(b'\n').ok();
        if let Some(console) = self.console.as_mut() {
            console.write(&line);
        }
        self.chunk.clear();
    }
}

struct Output {
    encoder: defmt::Encoder,
    sink: LineSink,
}

/// The logger's state: one writer at a time, guarded by `TAKEN`.
struct Shared(UnsafeCell<Output>);

// SAFETY: the image runs on one vCPU with interrupts disabled, and every access to the inner value
// happens between a successful `TAKEN` swap in `acquire` and the matching `release` (or in `init`
// and `write_raw`, which take `TAKEN` the same way).
unsafe impl Sync for Shared {}

static OUTPUT: Shared = Shared(UnsafeCell::new(Output {
    encoder: defmt::Encoder::new(),
    sink: LineSink {
        console: None,
        chunk: heapless::Vec::new(),
    },
}));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Run `f` on the logger's state if no one else holds it.
fn with_output<T>(f: impl FnOnce(&mut Output) -> T) -> Option<T> {
    if TAKEN.swap(true, Ordering::Acquire) {
        return None;
    }
    // SAFETY: `TAKEN` was false and is now ours: no other reference to the state exists.
    let result = f(unsafe { &mut *OUTPUT.0.get() });
    TAKEN.store(false, Ordering::Release);
    Some(result)
}

/// Send log output to `console` from now on.
pub fn init(console: Console) {
    with_output(|output| output.sink.console = Some(console));
}

/// Whether log output goes through port 0xe9.
pub fn uses_debug_port() -> bool {
    with_output(|output| {
        output
            .sink
            .console
            .as_ref()
            .is_some_and(Console::uses_debug_port)
    })
    .unwrap_or(false)
}

/// Send log output to port 0xe9 from now on.
pub fn switch_to_debug_port() {
    with_output(|output| output.sink.console.as_mut().map(Console::use_debug_port));
}

/// Write plain text (not defmt) to the console, if the logger is not busy: for the panic handler
/// when the panic came from inside the logger.
pub fn write_raw(text: &[u8]) -> bool {
    with_output(|output| {
        if let Some(console) = output.sink.console.as_mut() {
            console.write(text);
        }
    })
    .is_some()
}

#[defmt::global_logger]
struct XenConsoleLogger;

// SAFETY: `acquire` takes `TAKEN` and `release` gives it back, so frames never interleave; `write`
// and `flush` run only between them (defmt's contract), when the state is exclusively ours.
unsafe impl defmt::Logger for XenConsoleLogger {
    fn acquire() {
        if TAKEN.swap(true, Ordering::Acquire) {
            crate::exit::halt_logger_reentered();
        }
        // SAFETY: `TAKEN` is ours until `release`.
        let output = unsafe { &mut *OUTPUT.0.get() };
        let Output { encoder, sink } = output;
        encoder.start_frame(|bytes| sink.push(bytes));
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: called after `acquire` (defmt's contract): `TAKEN` is ours.
        let output = unsafe { &mut *OUTPUT.0.get() };
        let Output { encoder, sink } = output;
        encoder.end_frame(|bytes| sink.push(bytes));
        sink.flush_line();
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: called between `acquire` and `release` (defmt's contract): `TAKEN` is ours.
        let output = unsafe { &mut *OUTPUT.0.get() };
        let Output { encoder, sink } = output;
        encoder.write(bytes, |encoded| sink.push(encoded));
    }
}
