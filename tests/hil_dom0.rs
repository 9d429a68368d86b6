//! Real Xen with its real toolstack: `ballast hil --dom0 linux` boots Debian's Linux 6.1 as a PVH
//! dom0 on Xen 4.17 under QEMU, `xl create`s the ballast image from the shipped
//! `manifests/xen-pvh-domu.cfg` (memory 256, maxmem 512), drives it with `xl mem-set`, `xl
//! mem-max` (down and up, and past the boot maximum to 1.5x with the target following it, and
//! back), a target written to xenstore past `xl` above Xen's maximum (the domain stops at the
//! maximum) and `xl shutdown`, runs the grant rounds (the dom0's `ballast-granter` grants pages to
//! the domU's driver, which maps, checks and answers them, or fails as each round asks), and must
//! report PASS. Skips (loudly) only when QEMU, Xen or the
//! dom0's packages are missing, which `ballast hil` signals with exit status 77
//! (`scripts/setup` installs them, `scripts/setup-dom0` fetches the packages).

use std::process::Command;

const EXIT_MISSING_TOOLS: i32 = 77;

/// The admin's commands the run must show in its table, each with xl's exit status and xl
/// list's Mem after it.
const TABLE_ROWS: [(&str, &str, &str); 18] = [
    ("xl mem-set 128", "0", "128"),
    ("xl mem-set 201", "0", "201"),
    ("xl mem-set 384", "0", "384"),
    ("xl mem-set 512", "0", "512"),
    ("xl mem-set 256", "0", "256"),
    ("xl mem-max 384", "0", "256"),
    ("xl mem-set 448", "1", "256"),
    ("xl mem-max 512", "0", "256"),
    ("xl mem-set 448", "0", "448"),
    ("xl mem-set 640", "1", "448"),
    ("xl mem-set 4", "", ""),
    ("xl mem-set 256", "0", "256"),
    ("xl mem-max 768", "0", "256"),
    ("xl mem-set 512", "0", "512"),
    ("xl mem-set 768", "0", "768"),
    ("xl mem-set 256", "0", "256"),
    ("xl mem-max 512", "0", "256"),
    ("xl mem-set 256", "0", "256"),
];

/// The grant rounds the run must show in its table: the round and mode, pages granted, the
/// domU's outcome, and the pages the dom0 still held that held what the outcome says.
const GRANT_ROWS: [(&str, &str, &str, &str); 7] = [
    ("grant round 1 check", "1", "ok", "1"),
    ("grant round 2 check", "256", "ok", "256"),
    ("grant round 3 check", "4", "grant-status:2:-1", "3"),
    ("grant round 4 check", "1", "refused:DomainNotAllowed", "1"),
    (
        "grant round 5 unlent-frame",
        "1",
        "refused:FrameNotLent",
        "1",
    ),
    (
        "grant round 6 give-back-mapped",
        "4",
        "give-back-refused:FrameMapped",
        "4",
    ),
    ("grant round 7 die-mapped", "4", "died:unmapped=4", "4"),
];

#[test]
fn xl_drives_the_ballast_domu_under_a_linux_dom0() {
    let output = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["hil", "--dom0", "linux"])
        .output()
        .expect("the ballast binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(EXIT_MISSING_TOOLS) {
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!! SKIPPED: dom0 real-Xen test NOT run: QEMU, Xen or a package is missing");
        eprintln!("!! {}", stderr.trim());
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return;
    }
    assert!(
        output.status.success() && stdout.contains("ballast hil: PASS"),
        "ballast hil --dom0 linux failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let summary = &stdout[stdout
        .find("---- ballast hil --dom0 linux summary")
        .expect("a summary")..];
    let rows: Vec<_> = (summary.lines())
        .map(str::trim_start)
        .filter(|line| line.starts_with("xl mem-"))
        .collect();
    assert_eq!(rows.len(), TABLE_ROWS.len(), "the table's rows:\n{summary}");
    for (row, (command, rc, xl_mib)) in rows.iter().zip(TABLE_ROWS) {
        let columns: Vec<_> = row.split_whitespace().collect();
        assert_eq!(
            columns[..3].join(" "),
            command,
            "the plan's order:\n{summary}"
        );
        if !rc.is_empty() {
            assert_eq!(columns[3], rc, "xl's exit status in `{row}`");
            assert_eq!(columns[6], xl_mib, "xl list's Mem in `{row}`");
        }
    }
    let grants: Vec<_> = (summary.lines())
        .map(str::trim_start)
        .filter(|line| line.starts_with("grant round "))
        .collect();
    assert_eq!(
        grants.len(),
        GRANT_ROWS.len(),
        "the grant rounds:\n{summary}"
    );
    for (row, (round, pages, outcome, pages_ok)) in grants.iter().zip(GRANT_ROWS) {
        let columns: Vec<_> = row.split_whitespace().collect();
        assert_eq!(
            columns[..4].join(" "),
            round,
            "the rounds' order:\n{summary}"
        );
        assert_eq!(
            columns[4..7],
            [pages, outcome, pages_ok],
            "pages, outcome and pages ok in `{row}`"
        );
    }
    let past_xl = (summary.lines())
        .map(str::trim_start)
        .find(|line| line.starts_with("xenstore target 640"))
        .expect("the target written past xl");
    let columns: Vec<_> = past_xl.split_whitespace().collect();
    assert_eq!(
        (columns[3], columns[6]),
        ("0", "513"),
        "Xen's count stops at the maximum, 513 MiB: `{past_xl}`"
    );
    assert!(
        summary.contains("PoD boot"),
        "no PoD counters after boot:\n{summary}"
    );
    assert!(
        summary.contains("domain gone"),
        "the domain outlived xl shutdown:\n{summary}"
    );
}

#[test]
fn an_unknown_dom0_is_refused() {
    let status = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["hil", "--dom0", "windows"])
        .status()
        .expect("the ballast binary runs");
    assert_eq!(status.code(), Some(2));
}
