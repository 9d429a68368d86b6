//! `ballast hil`: build the Xen image, boot it on real Xen under QEMU and check what it reports.

use std::process::ExitCode;

pub fn run(_args: &[String]) -> ExitCode {
    eprintln!("ballast hil: the Xen image is not built yet");
    ExitCode::FAILURE
}
