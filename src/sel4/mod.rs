//! The seL4 target: seL4 5.0 as the kernel of an arm64 Xen guest, each ballast component its own
//! protection domain. This module builds the kernel (`images/sel4/kernel`: the platform
//! `armvirt` and ballast's patches over the seL4 5.0 sources that cargo fetches) into
//! `target/sel4/`, builds the image, and reads the cost figures its HIL run reports ([`costs`]).

pub mod costs;
pub mod image;
pub mod kernel;
pub mod sizes;
mod source;

pub use kernel::{build_kernel, KernelBuild};
