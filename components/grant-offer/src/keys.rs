//! The xenstore keys of the handshake, relative to the domU's home `/local/domain/<domU>/`.
//!
//! Dom0 creates the offer under the domU's `data/` directory; xenstored gives a new node the
//! permissions of its parent, and the domU owns `data/`, so the domU can read the offer and write
//! its answer next to it.

/// Written by dom0: the [`crate::Offer`] text of the current round.
pub const OFFER_KEY: &str = "data/ballast/grant-offer";

/// Written by the domU: the [`crate::Answer`] text of the last round it handled.
pub const ANSWER_KEY: &str = "data/ballast/grant-answer";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_keys_live_under_the_domains_data_directory() {
        for key in [OFFER_KEY, ANSWER_KEY] {
            assert!(key.starts_with("data/ballast/"), "{key}");
            assert!(!key.ends_with('/'), "{key}");
        }
        assert_ne!(OFFER_KEY, ANSWER_KEY);
    }
}
