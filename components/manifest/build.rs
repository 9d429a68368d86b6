//! Build script of `ballast-manifest`: reads the interfaces of `idl/` and compiles them into the
//! crate as the catalog manifests are checked against (`INTERFACES`), so that validation knows
//! exactly the interfaces this build speaks.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use ballast_idl_gen::LeaseMode;

fn main() -> ExitCode {
    let idl = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../../idl");
    println!("cargo::rerun-if-changed={}", idl.display());
    let interfaces = match ballast_idl_gen::load_dir(&idl) {
        Ok(interfaces) => interfaces,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = String::from("/// The interfaces of idl/ this build was made with.\n");
    out.push_str("pub const INTERFACES: &[crate::InterfaceSpec] = &[\n");
    for interface in &interfaces {
        let _ = writeln!(
            out,
            "    crate::InterfaceSpec {{ name: ::std::borrow::Cow::Borrowed({:?}), id: {}, ops: ::std::borrow::Cow::Borrowed(&[",
            interface.name, interface.id
        );
        for op in &interface.ops {
            let lease = match op.lease.as_ref().map(|lease| lease.access) {
                None => "None",
                Some(LeaseMode::Read) => "Read",
                Some(LeaseMode::ReadWrite) => "ReadWrite",
            };
            let _ = writeln!(
                out,
                "        crate::OpSpec {{ name: ::std::borrow::Cow::Borrowed({:?}), id: {}, capability: ::std::borrow::Cow::Borrowed({:?}), lease: crate::LeaseAccess::{lease} }},",
                op.name, op.id, op.capability
            );
        }
        out.push_str("    ]) },\n");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(error) = std::fs::write(out_dir.join("catalog.rs"), out) {
        eprintln!("cannot write the interface catalog: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
