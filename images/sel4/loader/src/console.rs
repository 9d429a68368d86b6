//! The console: the PL011 the device tree names (QEMU virt's at 0x09000000, Xen's `vpl011` at
//! 0x22000000), written through its data register (offset 0) once the flag register (offset
//! 0x18) shows room in the transmit FIFO. Polled, 32-bit accesses, MMU off. Before a UART is
//! known, or without one, output is dropped.

use core::arch::asm;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const DATA: u64 = 0x00;
const FLAGS: u64 = 0x18;
/// FR.TXFF: the transmit FIFO is full.
const TRANSMIT_FULL: u32 = 1 << 5;

/// The UART's base address; 0 while there is none. Only plain loads and stores touch it (no
/// exclusive accesses, which need normal memory: the MMU is off).
static UART: AtomicU64 = AtomicU64::new(0);

/// Whether a failure is being reported (a fault or panic while reporting one stops silently).
static FAILING: AtomicBool = AtomicBool::new(false);

/// Print on the UART at `base` from now on.
pub fn use_uart(base: u64) {
    UART.store(base, Ordering::Relaxed);
}

/// A writer onto the console.
#[derive(Debug)]
pub struct Console;

fn put(base: u64, byte: u8) {
    let flags = (base + FLAGS) as *const u32;
    let data = (base + DATA) as *mut u32;
    // SAFETY: `base` is the register block of the PL011 the device tree names, device memory
    // (the MMU is off); FR and DR are 32-bit registers at aligned offsets, and reading FR or
    // writing DR touches no memory of the loader's.
    unsafe {
        while flags.read_volatile() & TRANSMIT_FULL != 0 {}
        data.write_volatile(u32::from(byte));
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let base = UART.load(Ordering::Relaxed);
        if base == 0 {
            return Ok(());
        }
        for byte in text.bytes() {
            if byte == b'\n' {
                put(base, b'\r');
            }
            put(base, byte);
        }
        Ok(())
    }
}

/// Print a line on the console.
#[macro_export]
macro_rules! println {
    ($($argument:tt)*) => {{
        use core::fmt::Write as _;
        writeln!($crate::console::Console, $($argument)*).ok();
    }};
}

/// Report a failure (once: a fault or panic while reporting stops without printing) and stop
/// for good.
pub fn fail(report: fmt::Arguments<'_>) -> ! {
    if !FAILING.load(Ordering::Relaxed) {
        FAILING.store(true, Ordering::Relaxed);
        crate::println!("seL4 loader: {report}");
    }
    loop {
        // SAFETY: waits for an interrupt, which never comes (all are masked).
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fail(format_args!("panic: {info}"))
}
