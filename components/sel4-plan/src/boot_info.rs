//! The boot-info page: what the root task tells each PD that the composition cannot (which
//! component it is, the RAM found at boot, the guest command line), mapped read-only at
//! [`crate::vspace::BOOT_INFO`].
//!
//! The memory server and the gateway get the RAM runs the memory server manages (the memory
//! server balloons them; the gateway lets it name no other frames); every PD gets the lending
//! range and the guest command line the loader handed the root task ([`crate::cmdline`]). The
//! fingerprint of the plan the root task was built with lets a PD refuse to run against a root
//! task built from another manifest.

use ballast_xen::{FrameRun, Gfn};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::cmdline::{self, CMDLINE_BYTES};
use crate::{Plan, PlanError, ABI_VERSION};

/// The first word of every boot-info page: "BALLASTB" in little-endian bytes.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"BALLASTB");
/// RAM runs a boot-info page holds (the runs an image reads from a boot memory map).
pub const BOOT_RAM_RUNS: usize = ballast_system::BOOT_MAP_RAM_RUNS;

/// A run of guest frames as the boot-info page stores it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct BootRun {
    /// The first frame.
    pub first: u64,
    /// How many frames.
    pub frames: u64,
}

impl BootRun {
    /// The run as the rest of ballast types it.
    pub const fn run(&self) -> FrameRun {
        FrameRun::new(Gfn(self.first), self.frames)
    }

    /// `run`, stored.
    pub const fn of(run: &FrameRun) -> BootRun {
        BootRun {
            first: run.first.0,
            frames: run.frames,
        }
    }
}

/// The boot-info page's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct PdBootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// The component this PD runs (its id in the composition).
    pub component: u16,
    /// How many of `ram` are meaningful.
    pub ram_run_count: u16,
    /// [`Plan::fingerprint`] of the root task's plan.
    pub fingerprint: u64,
    /// The unpopulated range lent to clients.
    pub lending: BootRun,
    /// The RAM the memory server manages, ascending, in whole large pages (memory server and
    /// gateway; empty for the others).
    pub ram: [BootRun; BOOT_RAM_RUNS],
    /// Bytes of `cmdline` that are the guest command line.
    pub cmdline_length: u32,
    /// Zero (keeps the layout free of padding).
    pub reserved: u32,
    /// The guest command line (UTF-8, zero past `cmdline_length`).
    pub cmdline: [u8; CMDLINE_BYTES],
}

/// Why a PD refuses its boot-info page. C-like, zero reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum BootInfoError {
    /// The page does not start with [`BOOT_INFO_MAGIC`]: not a boot-info page.
    BadMagic = 1,
    /// Written for another version of the ABI.
    OtherAbiVersion = 2,
    /// Written for another component.
    OtherComponent = 3,
    /// Written by a root task built from another composition.
    OtherComposition = 4,
    /// Claims more RAM runs than the page holds.
    TooManyRuns = 5,
    /// The command line is longer than the page holds, or not UTF-8.
    BadCmdline = 6,
}

impl PdBootInfo {
    /// The page for `component`; `ram` (the memory server's RAM, as the root task mapped it) is
    /// kept for the memory server and the gateway only; every PD gets `cmdline`.
    pub fn new(
        plan: &Plan<'_>,
        component: u16,
        ram: &[FrameRun],
        cmdline: &str,
    ) -> Result<PdBootInfo, PlanError> {
        plan.component(component)?;
        let mut text = [0; CMDLINE_BYTES];
        text.get_mut(..cmdline.len())
            .ok_or(PlanError::CmdlineTooLong)?
            .copy_from_slice(cmdline.as_bytes());
        let ram = if plan.receives_ram(component) {
            ram
        } else {
            &[]
        };
        plan.check_ram_runs(ram)?;
        let mut runs = [BootRun::default(); BOOT_RAM_RUNS];
        if ram.len() > BOOT_RAM_RUNS {
            return Err(PlanError::TooManyRamRuns);
        }
        for (slot, run) in runs.iter_mut().zip(ram) {
            *slot = BootRun::of(run);
        }
        Ok(PdBootInfo {
            magic: BOOT_INFO_MAGIC,
            abi_version: ABI_VERSION,
            component,
            ram_run_count: ram.len() as u16,
            fingerprint: plan.fingerprint(),
            lending: BootRun::of(&plan.composition().memory.unpopulated),
            ram: runs,
            cmdline_length: cmdline.len() as u32,
            reserved: 0,
            cmdline: text,
        })
    }

    /// Whether this page was written for `component` by a root task with the same plan.
    pub fn check(&self, plan: &Plan<'_>, component: u16) -> Result<(), BootInfoError> {
        if self.magic != BOOT_INFO_MAGIC {
            return Err(BootInfoError::BadMagic);
        }
        if self.abi_version != ABI_VERSION {
            return Err(BootInfoError::OtherAbiVersion);
        }
        if self.component != component {
            return Err(BootInfoError::OtherComponent);
        }
        if self.fingerprint != plan.fingerprint() {
            return Err(BootInfoError::OtherComposition);
        }
        if usize::from(self.ram_run_count) > BOOT_RAM_RUNS {
            return Err(BootInfoError::TooManyRuns);
        }
        self.cmdline()?;
        Ok(())
    }

    /// The guest command line, checked: within the page's capacity and UTF-8.
    pub fn cmdline(&self) -> Result<&str, BootInfoError> {
        let length = usize::try_from(self.cmdline_length).map_err(|_| BootInfoError::BadCmdline)?;
        let bytes = self
            .cmdline
            .get(..length)
            .ok_or(BootInfoError::BadCmdline)?;
        cmdline::checked(bytes).map_err(|_| BootInfoError::BadCmdline)
    }

    /// The RAM runs (none past the page's capacity, whatever the count claims).
    pub fn ram_runs(&self) -> impl Iterator<Item = FrameRun> + '_ {
        let count = usize::from(self.ram_run_count).min(BOOT_RAM_RUNS);
        self.ram[..count].iter().map(BootRun::run)
    }

    /// The lending range.
    pub const fn lending(&self) -> FrameRun {
        self.lending.run()
    }
}
