//! The console: Xen's `console_io` (allowed for dom0 and for any domain on a debug Xen), falling
//! back for good to the PVH debug port 0xe9 once Xen refuses it (a domU on a non-debug Xen), or
//! when the command line says `log=port_e9`. Both end up on Xen's serial line (the port's output
//! as `(dN) ` lines at guest log level debug: Xen prints them with `guest_loglvl=all`).
//! Measured: `docs/XEN-BEHAVIOUR.md#console`.
//!
//! A domU under a toolstack also has the PV console ring (what `xl console` shows): once the boot
//! path attaches it, every line goes there too, and the console's event channel is kicked after
//! each write. A full ring (nobody reading) drops the line there; the serial copy stays.

use core::arch::asm;

use ballast_image_rt::logger::ConsoleWrite;
use ballast_image_rt::shared_page::MappedPage;
use ballast_xen::backend::x86_64::X86Hypercall;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::ring::ConsoleRing;
use ballast_xen::Hypervisor;

/// The I/O port Xen forwards to its console for HVM and PVH guests.
const DEBUG_PORT: u16 = 0xe9;

/// The PV console ring and its event channel.
#[derive(Debug)]
pub struct PvConsole {
    /// The ring.
    pub ring: ConsoleRing<MappedPage>,
    /// Its event channel.
    pub port: u32,
}

/// Where console bytes go.
#[derive(Debug)]
pub struct Console {
    xen: XenHypercalls<X86Hypercall>,
    on_port: bool,
    pv: Option<PvConsole>,
}

impl Console {
    /// A console over the installed hypercall page.
    pub const fn new(hypercall: X86Hypercall) -> Console {
        Console {
            xen: XenHypercalls::new(hypercall),
            on_port: false,
            pv: None,
        }
    }

    /// Copy every line to the PV console ring `pv` from now on.
    #[cfg(not(feature = "hil-test"))]
    pub fn attach_pv_console(&mut self, pv: PvConsole) {
        self.pv = Some(pv);
    }

    /// Send everything to port 0xe9 from now on.
    pub fn use_debug_port(&mut self) {
        self.on_port = true;
    }

    /// Whether port 0xe9 carries the output.
    pub fn uses_debug_port(&self) -> bool {
        self.on_port
    }
}

impl ConsoleWrite for Console {
    /// Write `bytes` to the PV console ring if there is one, and through `console_io` while Xen
    /// accepts it, else through port 0xe9.
    fn write(&mut self, bytes: &[u8]) {
        if let Some(pv) = self.pv.as_mut() {
            if pv
                .ring
                .output_space()
                .is_ok_and(|free| free as usize >= bytes.len())
                && pv.ring.write(bytes).is_ok()
            {
                self.xen.event_send(pv.port).ok();
            }
        }
        if !self.on_port && self.xen.console_write(bytes).is_ok() {
            return;
        }
        self.on_port = true;
        for &byte in bytes {
            // SAFETY: port 0xe9 is Xen's debug console for PVH guests; writing it has no effect
            // on memory.
            unsafe {
                asm!("out dx, al", in("dx") DEBUG_PORT, in("al") byte, options(nomem, nostack, preserves_flags))
            };
        }
    }
}
