//! [`Sel4Pd`]: the kernel trait of the seL4 IPC runtime (`ballast_ipc::sel4_rt::Sel4Kernel`) over
//! `ballast-sel4-sys`, with the PD's capabilities in the slots and its regions at the addresses
//! the plan gives.
//!
//! The runtime works on its own copy of the message registers; a send moves the registers it
//! uses into x2..x5 and the IPC buffer, a receive moves them back (a received notification leaves
//! the info register meaningless, so up to all of them come back, which costs a copy and nothing
//! else). Reply slots are numbered from 0 in the runtime, from the plan's first reply slot in the
//! CNode. A CNode invocation resolves a slot's capability pointer the whole 64 bits deep (the
//! PD's CNode guard and radix take all of them).

use ballast_ipc::sel4_rt::{KernelError, MessageInfo, Received, Sel4Kernel, MESSAGE_REGISTERS};
use ballast_ipc::{EndpointId, IpcError};
use ballast_sel4_plan::cspace::{CSpaceLayout, Slot, CNODE, ENDPOINT, NOTIFICATION};
use ballast_sel4_plan::{Plan, RegionMapping};
use ballast_sel4_sys::{ipc, ipc_buffer, CNode, CPtr, Cap, Endpoint, Notification, Reply};
use ballast_sel4_sys::{Sel4Error, WORD_BITS};

use crate::clock::Clock;
use crate::entry::Pd;
use crate::system::COMPOSITION;

/// Registers that travel in x2..x5.
const FAST: usize = 4;
/// The most capabilities to endpoints and notifications a PD can hold.
const CAPABILITIES: usize = COMPOSITION.endpoints.len() + COMPOSITION.notifications.len();

/// The kernel as this PD's thread reaches it.
#[derive(Debug)]
pub struct Sel4Pd {
    plan: Plan<'static>,
    component: u16,
    cspace: CSpaceLayout,
    /// Each endpoint and notification capability the PD holds, by its `EndpointId`, with its
    /// slot: looked up once, not on every call.
    capabilities: heapless::Vec<(EndpointId, Slot), CAPABILITIES>,
    clock: Clock,
    registers: [u64; MESSAGE_REGISTERS],
}

impl Sel4Pd {
    /// The kernel of `pd`; `None` if the plan has no CSpace for its component.
    pub fn new(pd: &Pd) -> Option<Sel4Pd> {
        let (plan, component) = (pd.plan, pd.component);
        let calls = (plan.endpoint_caps(component).ok()?).map(|(held, slot)| (held.id, slot));
        let signals = (plan.notification_caps(component).ok()?).map(|(held, slot)| (held.id, slot));
        let capabilities = (calls.chain(signals))
            .map(|(id, slot)| (EndpointId(id), slot))
            .collect();
        Some(Sel4Pd {
            plan,
            component,
            cspace: plan.cspace(component).ok()?,
            capabilities,
            clock: Clock::new(),
            registers: [0; MESSAGE_REGISTERS],
        })
    }

    fn cap<T>(slot: Slot) -> Cap<T> {
        Cap::from_cptr(CPtr(slot.cptr()))
    }

    fn cnode() -> Cap<CNode> {
        Self::cap(CNODE)
    }

    fn reply_slot(&self, slot: u16) -> Result<Slot, KernelError> {
        self.cspace.reply(slot).ok_or(KernelError::RangeError)
    }

    fn endpoint_slot(&self, endpoint: EndpointId) -> Result<Slot, IpcError> {
        (self.capabilities.iter())
            .find_map(|&(held, slot)| (held == endpoint).then_some(slot))
            .ok_or(IpcError::NoSuchEndpoint)
    }

    /// Registers 0..3 for x2..x5, the rest of the first `length` into the IPC buffer.
    fn outgoing(&self, length: usize) -> [u64; FAST] {
        let length = length.min(MESSAGE_REGISTERS);
        if length > FAST {
            // Within the buffer's message registers (length is at most their count).
            let _ = ipc_buffer::write_message(FAST, &self.registers[FAST..length]);
        }
        let mut fast = [0; FAST];
        fast.copy_from_slice(&self.registers[..FAST]);
        fast
    }

    /// Take a received message into the registers: x2..x5, then the rest from the IPC buffer.
    fn incoming(&mut self, received: ballast_sel4_sys::sys::Received) -> Received {
        self.registers[..FAST].copy_from_slice(&received.registers);
        let length = (received.info.length() as usize).min(MESSAGE_REGISTERS);
        if length > FAST {
            // As in `outgoing`.
            let _ = ipc_buffer::read_message(FAST, &mut self.registers[FAST..length]);
        }
        Received {
            badge: received.badge,
            info: info_of(received.info),
        }
    }

    /// The mapping of region `index`, if this PD maps it, with the region's size.
    fn mapping(&self, index: usize) -> Option<(RegionMapping, usize)> {
        let size = self.plan.composition().regions.get(index)?.size;
        let mapping = (self.plan.region_mappings(self.component))
            .find(|mapping| usize::from(mapping.region) == index)?;
        Some((mapping, usize::try_from(size).ok()?))
    }
}

fn info_of(info: ballast_sel4_sys::MessageInfo) -> MessageInfo {
    MessageInfo {
        label: info.label(),
        length: info.length() as usize,
    }
}

fn sys_info(info: MessageInfo) -> ballast_sel4_sys::MessageInfo {
    ballast_sel4_sys::MessageInfo::new(info.label, 0, 0, info.length as u64)
}

fn kernel_error(error: Sel4Error) -> KernelError {
    KernelError::from_code(error as u64).unwrap_or(KernelError::IllegalOperation)
}

impl Sel4Kernel for Sel4Pd {
    fn message_registers(&mut self) -> &mut [u64; MESSAGE_REGISTERS] {
        &mut self.registers
    }

    fn recv(&mut self) -> Received {
        let received = Self::cap::<Endpoint>(ENDPOINT).recv_with_registers();
        self.incoming(received)
    }

    fn nb_recv(&mut self) -> Received {
        let received = Self::cap::<Endpoint>(ENDPOINT).nb_recv();
        let length = (received.info.length() as usize).min(MESSAGE_REGISTERS);
        // `nb_recv` left registers 0..3 in the buffer too: read the message from there.
        let _ = ipc_buffer::read_message(0, &mut self.registers[..length]);
        Received {
            badge: received.badge,
            info: info_of(received.info),
        }
    }

    fn reply_recv(&mut self, reply: MessageInfo) -> Received {
        let fast = self.outgoing(reply.length);
        let received =
            Self::cap::<Endpoint>(ENDPOINT).reply_recv_with_registers(sys_info(reply), fast);
        self.incoming(received)
    }

    fn reply(&mut self, reply: MessageInfo) {
        let fast = self.outgoing(reply.length);
        ipc::reply_with_registers(sys_info(reply), fast);
    }

    fn save_caller(&mut self, slot: u16) -> Result<(), KernelError> {
        let slot = self.reply_slot(slot)?;
        (Self::cnode())
            .save_caller(slot.cptr(), WORD_BITS)
            .map_err(kernel_error)
    }

    fn delete_saved(&mut self, slot: u16) -> Result<(), KernelError> {
        let slot = self.reply_slot(slot)?;
        (Self::cnode())
            .delete(slot.cptr(), WORD_BITS)
            .map_err(kernel_error)
    }

    fn send_saved(&mut self, slot: u16, reply: MessageInfo) {
        let Ok(slot) = self.reply_slot(slot) else {
            return;
        };
        let fast = self.outgoing(reply.length);
        Self::cap::<Reply>(slot).send_with_registers(sys_info(reply), fast);
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: MessageInfo,
    ) -> Result<MessageInfo, IpcError> {
        let slot = self.endpoint_slot(endpoint)?;
        let fast = self.outgoing(request.length);
        let received = Self::cap::<Endpoint>(slot).call_with_registers(sys_info(request), fast);
        Ok(self.incoming(received).info)
    }

    fn signal(&mut self, endpoint: EndpointId) -> Result<(), IpcError> {
        let slot = self.endpoint_slot(endpoint)?;
        Self::cap::<Notification>(slot).signal();
        Ok(())
    }

    fn wait_notification(&mut self) -> u64 {
        Self::cap::<Notification>(NOTIFICATION).wait()
    }

    fn poll_notification(&mut self) -> u64 {
        Self::cap::<Notification>(NOTIFICATION).poll()
    }

    fn yield_now(&mut self) {
        ipc::yield_now();
    }

    fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    fn region_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        let (mapping, size) = self.mapping(index).filter(|(m, _)| m.writable)?;
        // SAFETY: the root task maps the region's pages read-write at `mapping.address` into this
        // PD before it starts, for its whole life (the plan's mapping, at least `size` bytes).
        // Within the PD only the runtime reaches the region, through this method, and the slice
        // borrows `self`, so no other reference to it lives meanwhile. Other PDs touch the same
        // frames only while this one does not (the lease protocol: a lender waits in its call
        // while the borrower works), and every hand-over passes through a system call.
        Some(unsafe { core::slice::from_raw_parts_mut(mapping.address as *mut u8, size) })
    }

    fn region(&mut self, index: usize) -> Option<&[u8]> {
        let (mapping, size) = self.mapping(index)?;
        // SAFETY: as in `region_mut`, mapped at least readable; shared, read only.
        Some(unsafe { core::slice::from_raw_parts(mapping.address as *const u8, size) })
    }
}
