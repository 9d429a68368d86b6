//! The memory server's own count of the calls it serves: taken, answered, and voided by the
//! caller's death, counted where the replies leave (the server's handlers run over a
//! `ballast_ipc::ReplyObserved`), so that "every request answered" can be read from the server
//! itself, not from a test's wrapper.

/// The calls the server took and what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounters {
    /// Calls delivered to the server, on either interface (refused ones included).
    pub taken: u64,
    /// Replies the server sent (at once or deferred; a protocol refusal is a reply too).
    pub answered: u64,
    /// Deferred calls dropped unanswered because their caller died.
    pub voided: u64,
}
