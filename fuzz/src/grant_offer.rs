//! The grant offer and answer texts (`ballast-grant-offer`): dom0 writes the offer into xenstore
//! and the domU's agent parses it; the domU writes the answer and the dom0 granter parses it.
//! Either side may be hostile. Parsing anything must give a value or a typed error, and a parsed
//! value must be written back as the same text (so what the parser accepts is exactly the
//! format).

use ballast_grant_offer::{Answer, Offer};

/// Parse `data` as an offer and as an answer.
pub fn run(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(offer) = Offer::parse(text) {
        let mut written = String::new();
        offer.write(&mut written).expect("a parsed offer writes");
        assert_eq!(
            written, text,
            "an offer parsed from a text writes another text"
        );
        assert_eq!(Offer::parse(&written), Ok(offer));
    }
    if let Ok(answer) = Answer::parse(text) {
        let mut written = String::new();
        answer.write(&mut written).expect("a parsed answer writes");
        assert_eq!(
            written, text,
            "an answer parsed from a text writes another text"
        );
        assert_eq!(Answer::parse(&written), Ok(answer));
    }
}
