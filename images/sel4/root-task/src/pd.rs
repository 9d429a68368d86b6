//! One protection domain: its kernel objects, its CSpace as the plan lays it out, its image,
//! stack, IPC buffer and boot-info page, and its thread, configured and started.
//!
//! seL4 5.0 facts: `TCB_Configure` takes the fault endpoint as a capability pointer in the
//! thread's own CSpace, the CSpace root with the guard data applied to the thread's copy, the
//! VSpace root, and the IPC buffer's address and frame (with `CONFIG_IPC_BUF_TPIDRURW` the kernel
//! puts the address in TPIDR_EL0); a priority above the invoker's maximum controlled priority is
//! refused. `TCB_WriteRegisters` sets pc, sp and x0 (an SPSR other than EL0's is sanitised by the
//! kernel); the thread runs from `TCB_Resume`, or, for a dead server's last rites, from the same
//! `TCB_WriteRegisters` with its resume flag.

use ballast_ipc::Badge;
use ballast_sel4_plan::cspace::{
    CNODE, CNODE_GUARD_DATA, ENDPOINT, FAULT_ENDPOINT, NOTIFICATION, TCB, VSPACE,
};
use ballast_sel4_plan::faults::{endpoint_badge, fault_badge};
use ballast_sel4_plan::vspace::{
    BOOT_INFO, IPC_BUFFER, PAGE_BYTES, STACK_BASE, STACK_PAGES, STACK_TOP,
};
use ballast_sel4_plan::{PdBootInfo, Plan, LAST_RITES, PD_LINE_PRIORITY, PD_PRIORITY};
use ballast_sel4_root_task::image::PdImage;
use ballast_sel4_root_task::RootError;
use ballast_sel4_sys::{
    init_slot, CNode, CPtr, Cap, CapData, CapRights, Endpoint, Notification, PrioProps, SmallPage,
    Tcb, UserContext, Word, XenHypercall,
};
use zerocopy::IntoBytes;

use crate::kernel::{failed, install, Kernel, Object};
use crate::scratch::Scratch;
use crate::space::AddressSpace;

/// Words of `UserContext` (`TCB_WriteRegisters` sets them all).
const USER_CONTEXT_WORDS: Word = (core::mem::size_of::<UserContext>() / 8) as Word;

/// The rights a caller's endpoint capability needs: send, and grant so that its `Call` gets a
/// reply capability (5.0 makes a caller without grant inactive instead); a fault endpoint
/// capability needs the same (5.0's `sendFaultIPC` refuses one without).
const CALLER_RIGHTS: CapRights = CapRights::new(true, false, true);

/// A protection domain under construction.
#[derive(Debug)]
pub struct Pd {
    /// Its component's id.
    pub component: u16,
    tcb: Cap<Tcb>,
    cnode: Cap<CNode>,
    /// Its VSpace.
    pub space: AddressSpace,
    notification: Cap<Notification>,
    /// The endpoint it serves (a server's).
    pub endpoint: Option<Cap<Endpoint>>,
    ipc_buffer: Option<Cap<SmallPage>>,
}

impl Pd {
    /// The kernel objects of `component`: CNode, TCB, VSpace (with an ASID), notification, and
    /// the endpoint it serves.
    pub fn create(kernel: &mut Kernel, plan: &Plan<'_>, component: u16) -> Result<Pd, RootError> {
        let endpoint = if plan.serves(component) {
            Some(kernel.create(Object::Endpoint)?)
        } else {
            None
        };
        Ok(Pd {
            component,
            tcb: kernel.create(Object::Tcb)?,
            cnode: kernel.create(Object::CNode)?,
            space: AddressSpace::create(kernel)?,
            notification: kernel.create(Object::Notification)?,
            endpoint,
            ipc_buffer: None,
        })
    }

    /// Fills its CSpace: its own TCB, CNode (guarded) and VSpace, its fault endpoint (badged with
    /// its fault badge, send and grant: 5.0 delivers a fault only through such a capability), its
    /// endpoint (receive only) and notification, one badged capability per endpoint it holds to a
    /// server in `pds`, one per notification it may raise on a PD of `pds` (badged with the bits,
    /// send only), and the hypercall capabilities the plan gives it.
    pub fn fill_cspace(
        &self,
        plan: &Plan<'_>,
        pds: &[Pd],
        faults: Cap<Endpoint>,
    ) -> Result<(), RootError> {
        let id = self.component;
        let guard = CapData::from_word(CNODE_GUARD_DATA);
        let none = CapData::NONE;
        install(self.cnode, TCB, self.tcb, CapRights::ALL, none)?;
        install(self.cnode, CNODE, self.cnode, CapRights::ALL, guard)?;
        install(self.cnode, VSPACE, self.space.root(), CapRights::ALL, none)?;
        let fault = CapData::badge(fault_badge(id)).map_err(|_| RootError::Plan)?;
        install(self.cnode, FAULT_ENDPOINT, faults, CALLER_RIGHTS, fault)?;
        if let Some(endpoint) = self.endpoint {
            install(self.cnode, ENDPOINT, endpoint, CapRights::READ, none)?;
        }
        install(
            self.cnode,
            NOTIFICATION,
            self.notification,
            CapRights::READ_WRITE,
            none,
        )?;
        for (endpoint, slot) in plan.endpoint_caps(id).map_err(|_| RootError::Plan)? {
            let server = (pds.get(usize::from(endpoint.server)))
                .and_then(|server| server.endpoint)
                .ok_or(RootError::Plan)?;
            let badge = endpoint_badge(Badge(endpoint.badge));
            let badge = CapData::badge(badge).map_err(|_| RootError::Plan)?;
            install(self.cnode, slot, server, CALLER_RIGHTS, badge)?;
        }
        for (notification, slot) in plan.notification_caps(id).map_err(|_| RootError::Plan)? {
            let target = (pds.get(usize::from(notification.to)))
                .map(|target| target.notification)
                .ok_or(RootError::Plan)?;
            let bits = CapData::badge(u64::from(notification.bits)).map_err(|_| RootError::Plan)?;
            install(self.cnode, slot, target, CapRights::WRITE, bits)?;
        }
        let master = Cap::<XenHypercall>::from_cptr(init_slot::XEN_HYPERCALL);
        for cap in plan.hypercall_caps(id).map_err(|_| RootError::Plan)? {
            let badge = CapData::from_word(cap.badge());
            install(self.cnode, cap.slot, master, CapRights::ALL, badge)?;
        }
        Ok(())
    }

    /// Loads `image` page by page, then maps the stack and the IPC buffer.
    pub fn load(
        &mut self,
        kernel: &mut Kernel,
        scratch: &mut Scratch,
        image: &PdImage<'_>,
    ) -> Result<(), RootError> {
        image.check()?;
        for page in image.pages() {
            let frame = kernel.create::<SmallPage>(Object::SmallPage)?;
            scratch.write(kernel, frame, page.executable, |bytes| {
                image.fill(page.address, bytes);
            })?;
            let (writable, executable) = (page.writable, page.executable);
            self.space
                .map_page(kernel, frame, page.address, writable, executable)?;
        }
        let stack = kernel.create_many(Object::SmallPage, STACK_PAGES)?;
        for index in 0..STACK_PAGES {
            let frame = Cap::from_cptr(CPtr(stack.0 + index));
            let address = STACK_BASE + index * PAGE_BYTES;
            self.space.map_page(kernel, frame, address, true, false)?;
        }
        let ipc_buffer = kernel.create::<SmallPage>(Object::SmallPage)?;
        self.space
            .map_page(kernel, ipc_buffer, IPC_BUFFER, true, false)?;
        self.ipc_buffer = Some(ipc_buffer);
        Ok(())
    }

    /// Writes `boot_info` into a new frame and maps it read-only at the plan's address.
    pub fn map_boot_info(
        &mut self,
        kernel: &mut Kernel,
        scratch: &mut Scratch,
        boot_info: &PdBootInfo,
    ) -> Result<(), RootError> {
        let frame = kernel.create::<SmallPage>(Object::SmallPage)?;
        scratch.write(kernel, frame, false, |bytes| {
            let written = boot_info.as_bytes();
            bytes[..written.len()].copy_from_slice(written);
        })?;
        self.space.map_page(kernel, frame, BOOT_INFO, false, false)
    }

    /// Configures its thread (fault endpoint, CSpace, VSpace, IPC buffer, priority), binds its
    /// notification and sets its registers: pc at `entry`, sp at the stack's top, x0 the
    /// boot-info page. It does not run yet. Its maximum controlled priority is the console line's.
    pub fn configure(&self, entry: u64) -> Result<(), RootError> {
        let ipc_buffer = self.ipc_buffer.ok_or(RootError::Plan)?;
        self.tcb
            .configure(
                FAULT_ENDPOINT.cptr(),
                PrioProps::new(PD_LINE_PRIORITY, PD_PRIORITY),
                self.cnode,
                CapData::from_word(CNODE_GUARD_DATA),
                self.space.root(),
                CapData::NONE,
                IPC_BUFFER,
                ipc_buffer,
            )
            .map_err(|error| failed("TCB_Configure", error))?;
        self.tcb
            .bind_notification(self.notification)
            .map_err(|error| failed("TCB_BindNotification", error))?;
        let registers = UserContext {
            pc: entry,
            sp: STACK_TOP,
            x0: BOOT_INFO,
            ..UserContext::default()
        };
        self.tcb
            .write_registers(false, 0, USER_CONTEXT_WORDS, &registers)
            .map_err(|error| failed("TCB_WriteRegisters", error))
    }

    /// Its thread.
    pub fn thread(&self) -> Cap<Tcb> {
        self.tcb
    }

    /// Starts its thread.
    pub fn start(&self) -> Result<(), RootError> {
        self.tcb
            .resume()
            .map_err(|error| failed("TCB_Resume", error))
    }
}

/// Restart the dead server `thread` at its `entry` with a fresh stack and [`LAST_RITES`] in x0:
/// it answers the calls it held, and every later call, with the server-died label. seL4 5.0 restarts a thread blocked on its fault
/// (blocked on the root task's reply) after cancelling that wait; its caller slot, which holds
/// the reply capability of the call it had in hand, is left as it was.
pub fn last_rites(thread: Cap<Tcb>, entry: u64) -> Result<(), RootError> {
    let registers = UserContext {
        pc: entry,
        sp: STACK_TOP,
        x0: LAST_RITES,
        ..UserContext::default()
    };
    thread
        .write_registers(true, 0, USER_CONTEXT_WORDS, &registers)
        .map_err(|error| failed("TCB_WriteRegisters (last rites)", error))
}
