//! The dom0 side of the grant rounds of `ballast hil --dom0 linux`: grants pages to the ballast
//! domU through Linux's `/dev/xen/gntalloc` ([`gntalloc`]), fills them with the handshake's
//! pattern, publishes the offer under the domU's xenstore home ([`xenstore`]), waits for the
//! domU's answer, checks every page ([`pages`]) and prints one report line ([`report`]). Linux
//! only; `unsafe` only where [`gntalloc`] calls `ioctl` and `mmap` and touches the mapping.

pub mod gntalloc;
pub mod options;
pub mod pages;
pub mod report;
pub mod round;
pub mod xenstore;
