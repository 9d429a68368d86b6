//! Real Xen on arm64: `ballast hil --arch aarch64` boots the arm64 image as a dom0less domU on
//! Xen 4.17 under QEMU, with the HIL test app or the memory-server app, and must report PASS. Skips (loudly) only when QEMU, dtc, the Rust target
//! or the arm64 Xen image is missing, which `ballast hil` signals with exit status 77
//! (`scripts/setup-arm64` installs them). The balloon scenario's counts must be those BENCHMARKS.md
//! publishes (`published`).

use std::process::{Command, Output};

mod published;

const EXIT_MISSING_TOOLS: i32 = 77;

/// Run `ballast hil --arch aarch64` with `args`; `None` (after a loud message) when a tool or Xen
/// is missing.
fn hil(args: &[&str]) -> Option<(Output, String, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["hil", "--arch", "aarch64"])
        .args(args)
        .output()
        .expect("the ballast binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.code() == Some(EXIT_MISSING_TOOLS) {
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!! SKIPPED: arm64 real-Xen test NOT run: a tool or Xen is missing");
        eprintln!("!! {}", stderr.trim());
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return None;
    }
    Some((output, stdout, stderr))
}

/// The image hosts the components of manifests/xen-arm64.toml on the static runtime, and the
/// balloon scenario runs the Xen facts through the gateway, then the components phase.
#[test]
fn the_arm64_image_passes_the_balloon_scenario_as_a_dom0less_domu() {
    let Some((output, stdout, stderr)) = hil(&[]) else {
        return;
    };
    assert!(
        output.status.success(),
        "ballast hil --arch aarch64 failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for report in [
        "guest | RESULT PASS",
        "ballast hil: PASS",
        "Xen dom0less mode detected",
        "check context=boot name=device_tree_ram_is_the_reservation ok=true",
        "hypercalls policy=2M",
        "hypercalls policy=4K",
        "aborted=true",
        "overmax",
        "timing policy=2M run=first",
        "timing policy=4K run=repeat",
        "gateway_refusal",
        "gateway phase=xen_facts",
        "component id=1 name=gateway kind=hypercall-gateway",
        "hypercalls path=components policy=2M bytes=67108864",
        "hypercalls path=components policy=4K bytes=67108864 decrease=32 populate=32",
        "borrowed runs=1 frames=512 low=0x100000",
        "deferred=true",
        "gateway phase=components",
        "reservation steps checked on the host",
    ] {
        assert!(stdout.contains(report), "no `{report}` line:\n{stdout}");
    }
    // The host's own reading of Xen's count of the domU (d1) at each hold, beside the guest's.
    for at in ["start", "xen_facts", "components"] {
        let reading = format!(
            "  independent reading at {at}: Xen debug key q: d1 nr_pages=131072 max_pages=131072 | the guest's steps: 131072"
        );
        assert!(stdout.contains(&reading), "no `{reading}` line:\n{stdout}");
    }
    published::assert_counts(
        &stdout,
        &published::Published {
            reservation: (131072, 131072),
            overmax_superpages: (5, 3),
            gateway_xen_facts: (540, 536, 4),
            borrowed_low: (131072, 130048),
            steps_checked: 93,
        },
    );
}

/// The memory-server app, what `ballast image` builds, starts the server, balloons from the
/// domU's maximum to the boot target with its books at Xen's count, and serves without faulting.
#[test]
fn the_arm64_memory_server_app_balloons_to_its_boot_target_and_serves() {
    let Some((output, stdout, stderr)) = hil(&["--app", "memory-server", "--target-mib", "448"])
    else {
        return;
    };
    assert!(
        output.status.success(),
        "ballast hil --arch aarch64 --app memory-server failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for report in [
        "guest | memory_server at=started xen_current=131072 drift=0",
        "guest | memory_server at=boot_target pages=114688",
        "guest | memory_server at=idle xen_current=114688 drift=0",
        "guest | memory_server at=serving",
        "  independent reading at serving: Xen debug key q: d1 nr_pages=114688 max_pages=131072 | the guest's books: 114688",
        "ballast hil: PASS",
    ] {
        assert!(stdout.contains(report), "no `{report}` line:\n{stdout}");
    }
    assert!(!stdout.contains("RESULT"), "the server stopped:\n{stdout}");
}

#[test]
fn a_fault_in_the_arm64_image_is_reported_and_ends_the_run_as_a_failure() {
    let Some((output, stdout, stderr)) = hil(&["--scenario", "fault"]) else {
        return;
    };
    assert_eq!(
        output.status.code(),
        Some(1),
        "a faulting guest must fail the run:\n{stdout}\n{stderr}"
    );
    for report in [
        "guest | fault kind=4",
        "class=0x25",
        "guest | RESULT FAIL",
        "ballast hil: FAIL",
    ] {
        assert!(stdout.contains(report), "no `{report}` line:\n{stdout}");
    }
}
