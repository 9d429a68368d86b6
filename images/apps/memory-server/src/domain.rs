//! What an image gives the memory-server app beside its components: the domain's place among
//! Xen's services. A domU under a toolstack has a xenstore ring (the toolstack agent talks to
//! xenstored over it) and an event channel that wakes the image; a domain Xen built without a
//! toolstack (dom0 under QEMU, a dom0less domU) has neither, and the app then only serves.

use ballast_xen::ring::SharedPage;

/// The xenstore ring Xen's toolstack set up for the domain.
#[derive(Debug)]
pub struct XenstoreLink<P: SharedPage> {
    /// The ring page.
    pub page: P,
    /// Its event channel (the gateway lets only the toolstack agent send on it).
    pub port: u32,
}

/// The image's side of the app's waiting and talking.
pub trait Domain {
    /// The page type of the image's rings.
    type Page: SharedPage;

    /// The xenstore ring, once (`None` without a toolstack, or the second time).
    fn take_xenstore(&mut self) -> Option<XenstoreLink<Self::Page>>;

    /// Sleep until the xenstore event channel fires (the event is consumed) or the app's clock
    /// passes `deadline_ns`; without a deadline, until an event.
    fn wait(&mut self, deadline_ns: Option<u64>);

    /// One plain line for the domain's administrator (`xl console`), not defmt.
    fn say(&mut self, line: &str);
}
