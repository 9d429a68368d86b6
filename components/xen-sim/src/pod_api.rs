//! The simulator's populate-on-demand API: building a domain on PoD, and what `xl debug-keys q`
//! and `xl list` would show of it.

use crate::config::{DomId, DomainConfig};
use crate::domain::Domain;
use crate::error::SimError;
use crate::pod::{DomainCrash, PodBoot, PodStatus};
use crate::sim::XenSim;

impl XenSim {
    /// Create a domain built on populate-on-demand: `config.ram` is its memory map, `pod` what
    /// Xen populated for real and the `tot_pages` it starts with; the rest of RAM is PoD entries
    /// backed by a cache. Boot memory does not come from the host pool.
    pub fn try_create_pod_domain(
        &self,
        config: DomainConfig,
        pod: &PodBoot,
    ) -> Result<DomId, SimError> {
        self.add_domain(|pool| Domain::boot_pod(&config, pod, pool))
    }

    /// The PoD entries and cache of `dom` (`xl debug-keys q`: "PoD entries=N cachesize=M"),
    /// whether it crashed, and its PoD counters.
    pub fn pod_status(&self, dom: DomId) -> Option<PodStatus> {
        self.with_domain(dom, |d| d.pod.status())
    }

    /// Set the PoD target of `dom` (what `xl mem-set` does besides the xenstore target and
    /// Xen's maximum): below `tot_pages` nothing happens, above it the cache grows from the host,
    /// never beyond the PoD entries while the domain has real pages.
    pub fn set_pod_target(&self, dom: DomId, target_pages: u64) -> Result<(), SimError> {
        let mut state = self.lock();
        let crate::state::State { pool, domains, .. } = &mut *state;
        let domain = domains.get_mut(&dom.0).ok_or(SimError::NoSuchDomain)?;
        domain.set_pod_target(pool, target_pages);
        Ok(())
    }

    /// Why `dom` crashed, if it did.
    pub fn crashed(&self, dom: DomId) -> Option<DomainCrash> {
        self.with_domain(dom, |d| d.pod.crashed()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;

    #[test]
    fn a_pod_domain_is_created_and_reported_like_xl_debug_keys_q() {
        let sim = XenSim::new(HostConfig::default());
        let boot = PodBoot {
            target_pages: 600,
            real_ram: core::iter::once(0..10).collect(),
            special: core::iter::once(5000..5002).collect(),
        };
        let d = sim
            .try_create_pod_domain(DomainConfig::domu(0..1024, 1026), &boot)
            .unwrap();
        assert_eq!(sim.tot_pages(d), Some(600));
        let status = sim.pod_status(d).unwrap();
        assert_eq!(status.to_string(), "PoD entries=1014 cachesize=588");
        assert_eq!(sim.populated_count(d, 0..1024), Some(1024));
        assert_eq!(sim.crashed(d), None);
        let short = PodBoot {
            target_pages: 11,
            ..boot
        };
        assert_eq!(
            sim.try_create_pod_domain(DomainConfig::domu(0..1024, 1026), &short),
            Err(SimError::PodTargetBelowReal)
        );
    }
}
