//! Checks of `notifies`: every target is another declared component that waits on its
//! notification, and every mask raises bits a composition may give (`NotificationBits::ASSIGNABLE`:
//! clear of seL4's badge limit, the PD ABI's endpoint bit and the runtime's timer) that no other
//! notifier of the same target raises. A pair cannot be listed twice: TOML refuses a repeated key.

use super::catalog;
use super::error::Problem;
use super::schema::{Kind, ManifestFile};
use super::validate::Report;
use ballast_ipc::NotificationBits;
use std::collections::BTreeMap;

/// Checks every `notifies` entry of every component.
pub fn check(spec: &ManifestFile, report: &mut Report<'_>) {
    // Per target, the bits each earlier notifier (in name order) raises there.
    let mut raised: BTreeMap<&str, Vec<(&str, u32)>> = BTreeMap::new();
    for (from, component) in &spec.components {
        for (to, &bits) in &component.notifies {
            let key = format!("components.{from}.notifies.{to}");
            let Some(target) = spec.components.get(to) else {
                let known = catalog::join(spec.components.keys().map(String::as_str));
                let name = to.clone();
                report.push(key, Problem::UnknownComponent { name, known });
                continue;
            };
            if to == from {
                report.push(key, Problem::NotifiesItself);
                continue;
            }
            if !waits_on_its_notification(target.kind) {
                let (target, kind) = (to.clone(), target.kind.as_str());
                report.push(key, Problem::NotifiedNeverWaits { target, kind });
                continue;
            }
            let wanted = NotificationBits(bits);
            if wanted.0 == 0 {
                report.push(key, Problem::NoNotificationBits);
                continue;
            }
            if !wanted.assignable() {
                let reserved = bits & !NotificationBits::ASSIGNABLE.0;
                report.push(key, Problem::ReservedNotificationBits { bits, reserved });
                continue;
            }
            let earlier = raised.entry(to.as_str()).or_default();
            if let Some(&(other, theirs)) = earlier.iter().find(|(_, theirs)| theirs & bits != 0) {
                let (target, other) = (to.clone(), other.to_string());
                let bits = theirs & bits;
                report.push(
                    key,
                    Problem::NotificationBitsShared {
                        target,
                        other,
                        bits,
                    },
                );
                continue;
            }
            earlier.push((from.as_str(), bits));
        }
    }
}

/// Whether a component of `kind` waits on its notification for bits others raise. The gateway and
/// the memory server are ballast's own handlers and act on no such bit (the gateway on none, the
/// memory server on its timer only), so a signal to them would be lost; drivers and control agents
/// are the integrator's, run as a handler (if they serve an interface) or as an external driver
/// that takes its bits itself.
const fn waits_on_its_notification(kind: Kind) -> bool {
    match kind {
        Kind::HypercallGateway | Kind::MemoryServer => false,
        Kind::DriverClient | Kind::ControlAgent => true,
    }
}

#[cfg(test)]
mod tests {
    use crate::{check_text, Problem, INTERFACES};
    use std::path::Path;

    const IMAGE: &str = r#"
        image = { name = "t", target = "xen-pvh" }
        xen = { max_extent_order = 0, max_frames_per_call = 16 }
        memory = { ram = [{ start = 0, end = 0x100 }], unpopulated = { start = 0x100, end = 0x200 } }
        [memory_server]
        max_clients = 3
        max_lent_runs_per_client = 2
        pending_depth = 1
        pending_timeout_ms = 10
        batch_size = 16
        policy = "seed"
        [components.gw]
        kind = "hypercall-gateway"
        serves = ["Hypercall"]
        [components.ms]
        kind = "memory-server"
        serves = ["Balloon"]
        uses.Hypercall.ops = ["decrease_reservation", "populate_physmap"]
        [components.a]
        kind = "control-agent"
        [components.b]
        kind = "control-agent"
        [components.drv]
        kind = "driver-client"
        [regions.frame_list]
        size = 128
        shared_by = ["ms", "gw"]
    "#;

    #[test]
    fn a_mask_of_bits_0_to_26_to_a_waiting_component_passes() {
        let text = IMAGE.replace("[components.b]", "notifies.drv = 0x7ffffff\n[components.b]");
        let valid = check_text(Path::new("t.toml"), &text, INTERFACES).expect("valid");
        assert_eq!(valid.spec.components["a"].notifies["drv"], 0x7ff_ffff);
    }

    #[test]
    fn a_server_may_signal_back_to_its_caller_without_a_call_cycle() {
        // The memory server's table is the one before `[components.a]`.
        let text = IMAGE
            .replace("[components.a]", "notifies.drv = 0x1\n[components.a]")
            .replace(
                "kind = \"driver-client\"",
                "kind = \"driver-client\"\nuses.Balloon.ops = [\"free_unpopulated\"]",
            );
        let valid = check_text(Path::new("t.toml"), &text, INTERFACES).expect("no cycle");
        let composition = crate::compose(&valid);
        let id = |name: &str| composition.component(name).expect(name).id;
        let (ms, drv) = (id("ms"), id("drv"));
        assert_eq!(composition.notifications[0].from, ms);
        assert!(composition.endpoint(drv, ms).is_some(), "drv calls ms");
        ballast_ipc::CheckedTables::from_tables(&composition.ipc).expect("no call cycle");
    }

    #[test]
    fn bits_two_notifiers_share_at_one_target_are_refused_at_the_later_one() {
        let text = IMAGE
            .replace("[components.b]", "notifies.drv = 0b011\n[components.b]")
            .replace("[components.drv]", "notifies.drv = 0b110\n[components.drv]");
        let errors = check_text(Path::new("t.toml"), &text, INTERFACES).expect_err("shared bit");
        let found: Vec<(&str, &Problem)> = (errors.iter())
            .map(|error| (error.key.as_str(), &error.problem))
            .collect();
        assert_eq!(
            found,
            [(
                "components.b.notifies.drv",
                &Problem::NotificationBitsShared {
                    target: "drv".into(),
                    other: "a".into(),
                    bits: 0b010
                }
            )]
        );
    }
}
