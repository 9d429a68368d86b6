//! The PD's start and end. The root task starts the PD's thread at `_start` (made by [`pd_main!`])
//! with sp at the plan's stack top; the boot-info page is mapped read-only at the plan's
//! `BOOT_INFO`. [`start`] reads and checks that page (written by a root task built from the same
//! manifest, for this ABI, its command line UTF-8), names the logger after the component, logs
//! the PD's start with the guest command line, and runs the PD's `main`, which reads that line
//! through [`Pd::cmdline`] and [`Pd::command_line`] (`scenario=...`, `target_mib=...`). A PD
//! ends only by [`die`]: an undefined instruction, a fault the kernel sends to the root task
//! through the PD's fault endpoint, so that the root task reports it dead to every server it
//! called (the servers reclaim what it held). A panic logs and dies the same way. A server the
//! root task restarts after its death runs its last rites instead of `main`: it answers the
//! calls it held, and every later one, with the server-died label, so that its callers learn of
//! its death (`ServerRestarted`) instead of blocking.

use core::arch::asm;

use ballast_sel4_plan::cspace::{ENDPOINT, NOTIFICATION};
use ballast_sel4_plan::vspace::BOOT_INFO;
use ballast_sel4_plan::{PdBootInfo, Plan, ENDPOINT_BADGE_BIT, LAST_RITES, SERVER_DIED_LABEL};
use ballast_sel4_sys::{ipc, CPtr, Cap, Endpoint, MessageInfo, Notification, Reply};
use ballast_system::CommandLine;

use crate::console::{DebugConsole, LOGGER};
use crate::system::COMPOSITION;

/// What a PD's `main` is given.
#[derive(Clone, Copy, Debug)]
pub struct Pd {
    /// The component this PD runs.
    pub component: u16,
    /// Its name in the manifest.
    pub name: &'static str,
    /// The boot-info page, as the root task wrote it.
    pub boot: PdBootInfo,
    /// The PD ABI of the composition.
    pub plan: Plan<'static>,
}

impl Pd {
    /// The guest command line, as the loader found it in the domU's device tree.
    pub fn cmdline(&self) -> &str {
        // `start` checked the page, so the command line is readable; a PD never sees the empty
        // fallback.
        self.boot.cmdline().unwrap_or_default()
    }

    /// The guest command line, for its `key=value` words.
    pub fn command_line(&self) -> CommandLine<'_> {
        CommandLine::new(self.cmdline())
    }

    /// Whether the command line names HIL scenario `name` (`scenario=name`).
    pub fn scenario_is(&self, name: &str) -> bool {
        self.command_line().value("scenario") == Some(name)
    }
}

/// The HIL scenario in which the memory server dies holding a call (`scenario=server-death`).
pub const SERVER_DEATH: &str = "server-death";

/// Make `$main` (a `fn(Pd) -> !`) the PD's main: defines `_start`, where the root task starts the
/// PD's thread.
#[macro_export]
macro_rules! pd_main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.start")]
        extern "C" fn _start(first: u64) -> ! {
            $crate::entry::start(first, $main)
        }
    };
}

/// The boot-info page's contents.
fn boot_info() -> PdBootInfo {
    // SAFETY: the root task maps the PD's boot-info page read-only at the plan's BOOT_INFO (page
    // aligned) before the thread starts, filled with a `PdBootInfo`, and never changes it; every
    // bit pattern is a valid `PdBootInfo` (plain integers), which `PdBootInfo::check` then
    // checks. A plain read: nothing tells the compiler what lies at that address (a volatile
    // read of the whole page would be unrolled into one load per field element).
    unsafe { core::ptr::read(BOOT_INFO as *const PdBootInfo) }
}

/// Read and check the boot-info page, name the logger, run `main`; or, when the root task restarts
/// a dead server with `first` [`LAST_RITES`] (its first start has the boot-info page's address
/// there), answer the calls it held ([`last_rites`]).
pub fn start(first: u64, main: fn(Pd) -> !) -> ! {
    let boot = boot_info();
    let Ok(plan) = Plan::new(&COMPOSITION) else {
        die()
    };
    let name = COMPOSITION
        .components
        .get(usize::from(boot.component))
        .map_or("pd", |component| component.name);
    LOGGER.init(DebugConsole::named(name));
    if let Err(error) = boot.check(&plan, boot.component) {
        defmt::error!(
            "pd={=str} boot_info refused error={=u16}",
            name,
            error as u16
        );
        die();
    }
    if first == LAST_RITES {
        last_rites(&plan, boot.component, name)
    }
    defmt::info!(
        "pd={=str} component={=u16} started cmdline={=str}",
        name,
        boot.component,
        boot.cmdline().unwrap_or_default()
    );
    main(Pd {
        component: boot.component,
        name,
        boot,
        plan,
    })
}

/// A dead server's last act, run by the root task (its thread restarted at the entry with a new
/// stack): answer the call it held in hand (the reply capability still in its thread's caller
/// slot) and every call it had saved for later (its reply slots), each with
/// [`SERVER_DIED_LABEL`], so that no caller stays blocked on it; then stay a tombstone on its
/// endpoint, answering every later call the same way (nothing else would receive there, and a
/// caller would block for ever). An empty caller slot or reply slot answers no one; a signal is
/// not answered.
fn last_rites(plan: &Plan<'_>, component: u16, name: &str) -> ! {
    let died = MessageInfo::new(SERVER_DIED_LABEL, 0, 0, 0);
    ipc::reply_with_registers(died, [0; 4]);
    let layout = plan.cspace(component).ok();
    let slots = layout.map_or(0, |layout| layout.reply_slots);
    for slot in (0..slots).filter_map(|index| layout?.reply(index)) {
        Cap::<Reply>::from_cptr(CPtr(slot.cptr())).send_with_registers(died, [0; 4]);
    }
    defmt::info!(
        "pd={=str} last_rites answered the call in hand and {=u16} reply slots label={=u64:#x}",
        name,
        slots,
        SERVER_DIED_LABEL
    );
    let endpoint = Cap::<Endpoint>::from_cptr(CPtr(ENDPOINT.cptr()));
    loop {
        let received = endpoint.recv_with_registers();
        if received.badge & ENDPOINT_BADGE_BIT != 0 {
            ipc::reply_with_registers(died, [0; 4]);
        }
    }
}

/// Stop for good without dying: wait on the PD's notification, which nothing signals to a PD
/// that serves nothing (a driver that has played its part stays alive, so that the root task
/// reports no death).
pub fn park() -> ! {
    let notification: Cap<Notification> = Cap::from_cptr(CPtr(NOTIFICATION.cptr()));
    loop {
        notification.wait();
    }
}

/// Write one word at `address`, an address the PD may not write (nothing is mapped there in its
/// VSpace, or only read-only): the store is a data abort the kernel turns into a VM fault (with
/// `address`) to the root task, which reports the PD dead. Were the store allowed after all, it
/// goes through: then `went_through` runs (to say so) and the PD dies anyway.
pub fn write_forbidden_and_die(address: u64, went_through: impl FnOnce()) -> ! {
    // SAFETY: the store goes to an address the root task mapped for this PD not at all or
    // read-only (the caller's contract), so it changes none of the PD's own memory: it faults,
    // and the thread never runs again; a PD whose store went through only logs, and dies. A
    // read-only mapping is shared memory another PD lent: the store, were it to go through,
    // changes one word the lender lent for reading, which is what a test of that protection
    // must be able to see.
    unsafe { core::ptr::write_volatile(address as usize as *mut u64, address) };
    went_through();
    die()
}

/// End the PD: fault, so that the root task reports it dead.
pub fn die() -> ! {
    loop {
        // SAFETY: an undefined instruction raises a user exception the kernel turns into a fault
        // message to the root task; the thread never runs again (the root task does not answer
        // it), and the loop covers a root task that would.
        unsafe { asm!("udf #0", options(nomem, nostack)) };
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if LOGGER.write_raw(b"panic\n") {
        defmt::error!("panic: {}", defmt::Display2Format(info));
    }
    die()
}
