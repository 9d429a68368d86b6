//! The defmt logger on a Xen console. defmt frames are rzcobs-encoded, and because they share
//! Xen's serial line with Xen's own text, every chunk of encoded bytes goes out as one text line:
//!
//! ```text
//! ~defmt~ 0a1b2c...\n
//! ```
//!
//! `~defmt~ ` then lowercase hex, up to [`CHUNK_BYTES`] bytes per line (fewer where the console
//! cuts long lines: [`ConsoleLogger::with_chunk`]), each line in one console write, so that Xen's
//! own lines never split one. Text before the marker (Xen's `(d1) ` prefix
//! for a domU) is ignored by the host, which concatenates the hex of every marked line into one
//! rzcobs stream (frames end with a zero byte, so line boundaries need not match frame
//! boundaries).
//!
//! An image keeps one [`ConsoleLogger`] in a static and makes it defmt's global logger with
//! [`defmt_global_logger!`](crate::defmt_global_logger).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// The marker that starts every defmt line.
pub const LINE_MARKER: &[u8] = b"~defmt~ ";
/// Encoded bytes per line: a line (marker, hex, newline) of 137 characters stays below the 199
/// after which Xen cuts a PVH guest's port 0xe9 line in two (`docs/XEN-BEHAVIOUR.md#console`).
pub const CHUNK_BYTES: usize = 64;
const LINE_BYTES: usize = LINE_MARKER.len() + 2 * CHUNK_BYTES + 1;

/// Where the log's text lines go.
pub trait ConsoleWrite {
    /// Write `bytes` (one whole line, or raw text) to the console.
    fn write(&mut self, bytes: &[u8]);
}

/// Encoded bytes on their way to the console, cut into marked hex lines.
struct Lines<C> {
    console: Option<C>,
    pending: heapless::Vec<u8, CHUNK_BYTES>,
    /// Encoded bytes per line, at most [`CHUNK_BYTES`].
    chunk: usize,
}

impl<C: ConsoleWrite> Lines<C> {
    fn emit(&mut self, encoded: &[u8]) {
        for &byte in encoded {
            if self.pending.len() >= self.chunk {
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

struct State<C> {
    encoder: defmt::Encoder,
    lines: Lines<C>,
}

/// The logger's state over console `C`: one writer at a time, guarded by `busy`.
pub struct ConsoleLogger<C> {
    state: UnsafeCell<State<C>>,
    busy: AtomicBool,
}

impl<C> core::fmt::Debug for ConsoleLogger<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConsoleLogger")
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

// SAFETY: every access to `state` happens while `busy` is held (taken with an acquiring swap in
// `locked` and `acquire`, given back with a releasing store at the end of `locked` and in
// `release`), so one thread at a time reaches it; the console may move between threads with it,
// hence `C: Send`.
unsafe impl<C: Send> Sync for ConsoleLogger<C> {}

impl<C: ConsoleWrite> Default for ConsoleLogger<C> {
    fn default() -> ConsoleLogger<C> {
        ConsoleLogger::new()
    }
}

impl<C: ConsoleWrite> ConsoleLogger<C> {
    /// A logger with no console yet (output is dropped until [`Self::init`]).
    pub const fn new() -> ConsoleLogger<C> {
        ConsoleLogger::with_chunk(CHUNK_BYTES)
    }

    /// A logger writing at most `chunk` encoded bytes per line (at least 1, at most
    /// [`CHUNK_BYTES`]), for a console that cuts lines longer than its own limit.
    pub const fn with_chunk(chunk: usize) -> ConsoleLogger<C> {
        let chunk = if chunk == 0 {
            1
        } else if chunk > CHUNK_BYTES {
            CHUNK_BYTES
        } else {
            chunk
        };
        ConsoleLogger {
            state: UnsafeCell::new(State {
                encoder: defmt::Encoder::new(),
                lines: Lines {
                    console: None,
                    pending: heapless::Vec::new(),
                    chunk,
                },
            }),
            busy: AtomicBool::new(false),
        }
    }

    /// Run `f` on the state if no one else holds it.
    fn locked<T>(&self, f: impl FnOnce(&mut State<C>) -> T) -> Option<T> {
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: `busy` was clear and is now ours: no other reference to the state exists.
        let result = f(unsafe { &mut *self.state.get() });
        self.busy.store(false, Ordering::Release);
        Some(result)
    }

    /// Send log output to `console` from now on.
    pub fn init(&self, console: C) {
        self.locked(|state| state.lines.console = Some(console));
    }

    /// Run `f` on the console, if there is one and the logger is not busy.
    pub fn with_console<T>(&self, f: impl FnOnce(&mut C) -> T) -> Option<T> {
        self.locked(|state| state.lines.console.as_mut().map(f))
            .flatten()
    }

    /// Write plain text (not defmt) to the console if the logger is not busy (for a panic handler
    /// when the panic came from inside the logger); whether it was free.
    pub fn write_raw(&self, text: &[u8]) -> bool {
        self.locked(|state| {
            if let Some(console) = state.lines.console.as_mut() {
                console.write(text);
            }
        })
        .is_some()
    }

    /// Write one plain line (not defmt) for a person reading the console: `text`, then a
    /// newline; dropped if the logger is busy.
    pub fn write_line(&self, text: &[u8]) {
        self.locked(|state| {
            if let Some(console) = state.lines.console.as_mut() {
                console.write(text);
                console.write(b"\n");
            }
        });
    }

    /// defmt's `acquire`: take the logger and start a frame; `false` if it was already taken (a
    /// log call from inside the logger), which the image must not survive.
    pub fn acquire(&self) -> bool {
        if self.busy.swap(true, Ordering::Acquire) {
            return false;
        }
        // SAFETY: `busy` is ours until `release`.
        let State { encoder, lines } = unsafe { &mut *self.state.get() };
        encoder.start_frame(|bytes| lines.emit(bytes));
        true
    }

    /// defmt's `write`: encode `bytes` into the frame.
    ///
    /// # Safety
    ///
    /// Only between a successful [`Self::acquire`] and the matching [`Self::release`] (defmt's
    /// contract), when the state is exclusively the caller's.
    pub unsafe fn write(&self, bytes: &[u8]) {
        // SAFETY: the caller holds `busy` (this function's contract).
        let State { encoder, lines } = unsafe { &mut *self.state.get() };
        encoder.write(bytes, |encoded| lines.emit(encoded));
    }

    /// defmt's `release`: end the frame, send what is pending, give the logger back.
    ///
    /// # Safety
    ///
    /// Only after a successful [`Self::acquire`] (defmt's contract).
    pub unsafe fn release(&self) {
        // SAFETY: the caller holds `busy` (this function's contract).
        let State { encoder, lines } = unsafe { &mut *self.state.get() };
        encoder.end_frame(|bytes| lines.emit(bytes));
        lines.send_line();
        self.busy.store(false, Ordering::Release);
    }
}

/// Make `$logger` (a `static` [`ConsoleLogger`]) defmt's global logger; `$on_reentry` (a
/// `fn() -> !`) ends the run when a log call comes from inside the logger. For the image crate
/// (which depends on `defmt`), once.
#[macro_export]
macro_rules! defmt_global_logger {
    ($logger:path, $on_reentry:path) => {
        #[defmt::global_logger]
        struct ConsoleGlobalLogger;

        // SAFETY: `acquire` takes the logger and `release` gives it back, so frames never
        // interleave; `write` and `release` run only after a successful `acquire` (defmt's
        // contract; a failed one ends the run), which is what `ConsoleLogger`'s unsafe methods
        // ask.
        unsafe impl defmt::Logger for ConsoleGlobalLogger {
            fn acquire() {
                if !$logger.acquire() {
                    $on_reentry();
                }
            }

            unsafe fn flush() {}

            unsafe fn release() {
                // SAFETY: after a successful `acquire` (defmt's contract).
                unsafe { $logger.release() }
            }

            unsafe fn write(bytes: &[u8]) {
                // SAFETY: between `acquire` and `release` (defmt's contract).
                unsafe { $logger.write(bytes) }
            }
        }
    };
}
