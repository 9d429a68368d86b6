//! Separates the image's defmt output from Xen's own text on the serial line and decodes it.
//!
//! The image writes its rzcobs-encoded defmt stream as text lines `~defmt~ <hex>` (see the image's
//! `logger.rs`); anything before the marker on a line (Xen's `(d1) ` prefix for a domU) is ignored.
//! The hex of every marked line, in order, is one byte stream; frames end at zero bytes, so a frame
//! may span lines.
//!
//! A system of several ELFs (the seL4 target: one per protection domain) names the source on each
//! line, `<name>: ~defmt~ <hex>` (after the console's own prefix, `(XEN) DOM1: ` for a domU's
//! vpl011): every source is its own stream, decoded against its own ELF's table, and its messages
//! carry that name.

use defmt_decoder::{DecodeError, StreamDecoder, Table};

/// The marker that starts the image's defmt lines.
pub const LINE_MARKER: &str = "~defmt~ ";

/// What one serial line held.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Xen's (or anyone else's) plain text.
    Text(String),
    /// Decoded defmt messages completed by this line (often one, possibly none or several).
    Messages(Vec<Message>),
    /// A marked line whose payload was not hex, or whose frames did not decode.
    Garbled(String),
}

/// One decoded defmt message.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    /// The ELF it came from, by the name its lines carry (`None` for the one unnamed stream).
    pub source: Option<String>,
    /// The message.
    pub text: String,
}

/// One defmt stream and where its messages come from.
struct Source<'t> {
    /// The name lines carry (`None` for the one unnamed stream).
    name: Option<String>,
    stream: Box<dyn StreamDecoder + Send + Sync + 't>,
}

/// Decodes serial lines against the image's defmt table, or several named tables.
pub struct LogDecoder<'t> {
    sources: Vec<Source<'t>>,
}

impl std::fmt::Debug for LogDecoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.sources.iter().map(|source| &source.name).collect();
        f.debug_struct("LogDecoder")
            .field("sources", &names)
            .finish_non_exhaustive()
    }
}

impl<'t> LogDecoder<'t> {
    /// A decoder for the image whose table is `table` (lines `~defmt~ <hex>`).
    pub fn new(table: &'t Table) -> LogDecoder<'t> {
        LogDecoder {
            sources: vec![Source {
                name: None,
                stream: table.new_stream_decoder(),
            }],
        }
    }

    /// A decoder for several ELFs, each named by its lines (`<name>: ~defmt~ <hex>`).
    pub fn named<'n>(tables: impl IntoIterator<Item = (&'n str, &'t Table)>) -> LogDecoder<'t> {
        LogDecoder {
            sources: (tables.into_iter())
                .map(|(name, table)| Source {
                    name: Some(name.to_string()),
                    stream: table.new_stream_decoder(),
                })
                .collect(),
        }
    }

    /// The source a marked line comes from (the one unnamed source, or the named source whose
    /// name precedes the marker, after any white space: the seL4 kernel's console ends a line
    /// with `\r\n`, and Xen's vpl011 starts its next line with the `\r`) and the payload after the marker, if the line is marked.
    fn marked<'l>(&self, line: &'l str) -> Option<(Option<usize>, &'l str)> {
        let at = line.find(LINE_MARKER)?;
        let payload = &line[at + LINE_MARKER.len()..];
        let name = (line[..at].strip_suffix(": "))
            .and_then(|before| before.rsplit(char::is_whitespace).next());
        let source = self.sources.iter().position(|source| match &source.name {
            None => true,
            Some(own) => Some(own.as_str()) == name,
        });
        Some((source, payload))
    }

    /// Take one serial line (without its line ending).
    pub fn line(&mut self, line: &str) -> Line {
        let line = line.trim_end_matches(['\r', '\n']);
        let Some((source, payload)) = self.marked(line) else {
            return Line::Text(line.to_string());
        };
        let (Some(source), Some(bytes)) = (source, parse_hex(payload.trim())) else {
            return Line::Garbled(line.to_string());
        };
        let Source { name, stream } = &mut self.sources[source];
        stream.received(&bytes);
        let mut messages = Vec::new();
        loop {
            match stream.decode() {
                Ok(frame) => messages.push(Message {
                    source: name.clone(),
                    text: frame.display_message().to_string(),
                }),
                Err(DecodeError::UnexpectedEof) => return Line::Messages(messages),
                Err(DecodeError::Malformed) => return Line::Garbled(line.to_string()),
            }
        }
    }
}

/// Lowercase or uppercase hex, two digits per byte.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_payloads_round_trip_and_reject_junk() {
        assert_eq!(parse_hex("00ff7e"), Some(vec![0x00, 0xff, 0x7e]));
        assert_eq!(parse_hex("0"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(""), Some(vec![]));
    }

    #[test]
    fn a_line_for_no_known_source_is_garbled_and_plain_text_stays_text() {
        let mut decoder = LogDecoder::named([]);
        assert_eq!(
            decoder.line("(XEN) DOM1: gateway: ~defmt~ 00"),
            Line::Garbled("(XEN) DOM1: gateway: ~defmt~ 00".into())
        );
        assert_eq!(
            decoder.line("(XEN) DOM1: \rgateway: ~defmt~ 00"),
            Line::Garbled("(XEN) DOM1: \rgateway: ~defmt~ 00".into())
        );
        assert_eq!(
            decoder.line("(d1) ~defmt~ 00"),
            Line::Garbled("(d1) ~defmt~ 00".into())
        );
        assert_eq!(
            decoder.line("(XEN) DOM1: gateway: ~defmt"),
            Line::Text("(XEN) DOM1: gateway: ~defmt".into())
        );
    }
}
