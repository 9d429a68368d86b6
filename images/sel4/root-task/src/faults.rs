//! Serving faults once the PDs run: the root task waits on its fault endpoint; a message names the
//! faulted PD by its badge. The root task logs the fault and tells every server the dead PD held
//! a call capability to, with a client-died message naming the dead PD's badge there (the plan's
//! format), through its own capability to that server's endpoint. A faulted thread is not
//! resumed: the root task never answers the fault, so the thread waits for ever.
//!
//! seL4 5.0 (without MCS) offers no way to abort a call whose callee is gone, so a dead server
//! would leave the calls it held, and every later call to it, blocked for ever. The root task
//! restarts a dead server's thread once, for its last rites (`ballast_sel4_plan::LAST_RITES`): it
//! answers the call in hand and every call it had saved with the server-died label, then answers
//! every later call the same way. A fault of it after that is logged and otherwise ignored. A
//! server that died is not told of later deaths.

use ballast_sel4_plan::faults::faulted_component;
use ballast_sel4_sys::fault::FaultKind;
use ballast_sel4_sys::MessageInfo;

use crate::console::say;
use crate::pd::last_rites;
use crate::system::System;
use crate::COMPONENTS;

/// Serves faults for ever.
pub fn serve(system: &System<'_>) -> ! {
    let components = system.plan.composition().components;
    let mut dead = [false; COMPONENTS];
    loop {
        let received = system.faults.recv_with_registers();
        let label = received.info.label();
        let [first, second, third, fourth] = received.registers;
        let Some(component) = faulted_component(received.badge, components.len()) else {
            say!(
                "a fault message with unknown badge {:#x} (label {label})",
                received.badge
            );
            continue;
        };
        let name = components[usize::from(component)].name;
        if dead[usize::from(component)] {
            say!(
                "PD {name} faulted again after its last rites: {:?}",
                FaultKind::from_label(label)
            );
            continue;
        }
        say!(
            "PD {name} faulted: {:?} (label {label}) {first:#x} {second:#x} {third:#x} {fourth:#x}",
            FaultKind::from_label(label)
        );
        dead[usize::from(component)] = true;
        if system.plan.serves(component) {
            let thread = system.threads.get(usize::from(component)).copied();
            match thread.map(|(thread, entry)| last_rites(thread, entry)) {
                Some(Ok(())) => {
                    say!("restarted {name} for its last rites: it answers the calls it held and every later one")
                }
                _ => say!("could not restart {name} for its last rites: its callers stay blocked"),
            }
        }
        for (server, died) in system.plan.client_died(component) {
            let server_name = components[usize::from(server)].name;
            let call = system
                .root_calls
                .get(usize::from(server))
                .copied()
                .flatten();
            match call {
                Some(call) if !dead[usize::from(server)] => {
                    let (label, [badge]) = died.encode();
                    let info = MessageInfo::new(label, 0, 0, 1);
                    let reply = call.call_with_registers(info, [badge, 0, 0, 0]);
                    say!(
                        "told {server_name} that client badge {} died (reply label {})",
                        died.badge.0,
                        reply.info.label()
                    );
                }
                _ => say!(
                    "{server_name} is gone: not told that badge {} died",
                    died.badge.0
                ),
            }
        }
    }
}
