//! Following an answer on one socket, including a socket that connects mid-answer (a page that
//! reconnected, or was opened while the answer streams): the answer so far, then the live rest,
//! each byte exactly once.
//!
//! Every live piece carries its byte offset in the answer, and the writer answers a socket that
//! connects with the answer so far ([`AnswerSoFarEvent`](super::consumers::AnswerSoFarEvent)).
//! The two travel by different routes (the conversation's group, the socket's own channel), so
//! they can arrive in either order: an [`AnswerFollower`] puts them back together, as a TCP
//! receiver does with segments. A piece wholly before what the client has is a duplicate and
//! dropped; a piece after a gap is held until the answer so far fills the gap.
//!
//! ```
//! use sandbox::assistants::resume::{AnswerFollower, Delivery};
//!
//! let mut follower = AnswerFollower::default();
//! // Connected mid-answer: " world" (offset 5) arrives before the answer so far.
//! assert_eq!(follower.piece(7, 5, " world".into()), []);
//! assert_eq!(
//!     follower.so_far(7, "Hello".into()),
//!     [Delivery::SoFar("Hello".into()), Delivery::Piece(" world".into())],
//! );
//! // "Hello" was in flight on the group too: a duplicate now.
//! assert_eq!(follower.piece(7, 0, "Hello".into()), []);
//! assert!(!follower.end(7, 11), "the client has the whole answer");
//! ```

use std::collections::BTreeMap;

use super::generation::MAX_ANSWER_BYTES;

/// The most bytes of pieces held after a gap: a whole answer and one piece more. The pieces come
/// from the sandbox's own writer, but a bound costs nothing.
const MAX_HELD_BYTES: usize = 2 * MAX_ANSWER_BYTES;

/// What to send the client next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// `answer_so_far`: the whole answer written so far; the page shows it in place of what it
    /// had of that answer.
    SoFar(String),
    /// `streaming`: the piece after what the client has.
    Piece(String),
}

/// One socket's view of the answers of its conversation, one at a time; see the module docs.
#[derive(Debug, Default)]
pub struct AnswerFollower {
    /// The answer being followed, by the id of the user message it answers.
    message_id: Option<i64>,
    /// How many bytes of it the client has.
    delivered: usize,
    /// Pieces after a gap, by offset.
    held: BTreeMap<usize, String>,
    held_bytes: usize,
    /// The newest answer that ended: news of it or of an older one is stale.
    ended: Option<i64>,
}

impl AnswerFollower {
    /// A live piece, `content` at byte `offset` of the answer to message `message_id`.
    pub fn piece(&mut self, message_id: i64, offset: usize, content: String) -> Vec<Delivery> {
        if !self.follow(message_id) {
            return vec![];
        }
        let mut out = Vec::new();
        if offset > self.delivered {
            if offset <= MAX_ANSWER_BYTES && self.held_bytes + content.len() <= MAX_HELD_BYTES {
                self.held_bytes += content.len();
                if let Some(replaced) = self.held.insert(offset, content) {
                    self.held_bytes -= replaced.len();
                }
            }
            return out;
        }
        self.take(offset, content, &mut out);
        self.release(&mut out);
        out
    }

    /// The writer's answer so far (`content`, from its start) to message `message_id`.
    pub fn so_far(&mut self, message_id: i64, content: String) -> Vec<Delivery> {
        if !self.follow(message_id) {
            return vec![];
        }
        let mut out = Vec::new();
        // Nothing of this answer shown yet: even an empty answer so far tells the page that an
        // answer is being written.
        if self.delivered == 0 || content.len() > self.delivered {
            self.delivered = self.delivered.max(content.len());
            out.push(Delivery::SoFar(content));
        }
        self.release(&mut out);
        out
    }

    /// The answer to `message_id` ended, `length` bytes long; true if the client is missing
    /// part of it (it connected mid-answer and the answer so far never came), so the caller
    /// should send the saved answer.
    pub fn end(&mut self, message_id: i64, length: usize) -> bool {
        if !self.follow(message_id) {
            return false;
        }
        let missing = self.delivered < length;
        *self = AnswerFollower { ended: Some(message_id), ..AnswerFollower::default() };
        missing
    }

    /// Whether news of `message_id` is current; a newer answer starts afresh.
    fn follow(&mut self, message_id: i64) -> bool {
        if self.ended.is_some_and(|ended| message_id <= ended) {
            return false;
        }
        match self.message_id {
            Some(current) if message_id < current => false,
            Some(current) if message_id == current => true,
            _ => {
                *self = AnswerFollower { message_id: Some(message_id), ended: self.ended, ..AnswerFollower::default() };
                true
            }
        }
    }

    /// Delivers the part of `content` (at `offset`, at most what the client has) that is new.
    fn take(&mut self, offset: usize, content: String, out: &mut Vec<Delivery>) {
        let end = offset + content.len();
        if end <= self.delivered {
            return;
        }
        // Pieces and answers so far both end on piece boundaries, so this is a whole piece in
        // practice; a cut inside a character is dropped rather than sent broken.
        let Some(new) = content.get(self.delivered - offset..) else { return };
        let new = if new.len() == content.len() { content } else { new.to_owned() };
        self.delivered = end;
        out.push(Delivery::Piece(new));
    }

    /// Delivers the held pieces that now follow on.
    fn release(&mut self, out: &mut Vec<Delivery>) {
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > self.delivered {
                break;
            }
            let (offset, content) = entry.remove_entry();
            self.held_bytes -= content.len();
            self.take(offset, content, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(out: &[Delivery]) -> String {
        out.iter()
            .map(|d| match d {
                Delivery::SoFar(text) | Delivery::Piece(text) => text.as_str(),
            })
            .collect()
    }

    #[test]
    fn a_socket_there_from_the_start_gets_the_pieces_as_they_come() {
        let mut follower = AnswerFollower::default();
        let mut out = follower.piece(1, 0, "Hel".into());
        out.extend(follower.piece(1, 3, "lo".into()));
        assert_eq!(out, [Delivery::Piece("Hel".into()), Delivery::Piece("lo".into())]);
        assert_eq!(follower.so_far(1, "Hel".into()), [], "an older answer so far adds nothing");
        assert!(!follower.end(1, 5));
    }

    #[test]
    fn every_order_of_the_answer_so_far_and_the_pieces_gives_the_answer_once() {
        // The answer "a bc def" in three pieces; the socket joins after the first, and the
        // answer so far is taken after 0, 1, 2 or 3 pieces; its arrival is put at every place
        // among the live pieces the socket gets.
        let all = ["a", " bc", " def"];
        let offsets = [0, 1, 4];
        for joined in 0..=3 {
            for taken in joined..=3 {
                let live: Vec<usize> = (joined..3).collect();
                for at in 0..=live.len() {
                    let mut follower = AnswerFollower::default();
                    let mut out = Vec::new();
                    for (n, &piece) in live.iter().enumerate() {
                        if n == at {
                            out.extend(follower.so_far(9, all[..taken].concat()));
                        }
                        out.extend(follower.piece(9, offsets[piece], all[piece].into()));
                    }
                    if at == live.len() {
                        out.extend(follower.so_far(9, all[..taken].concat()));
                    }
                    let shown = match out.iter().rposition(|d| matches!(d, Delivery::SoFar(_))) {
                        Some(last) => pieces(&out[last..]),
                        None => pieces(&out),
                    };
                    assert_eq!(shown, "a bc def", "joined {joined}, taken {taken}, at {at}: {out:?}");
                    assert!(!follower.end(9, 8), "joined {joined}, taken {taken}, at {at}");
                }
            }
        }
    }

    #[test]
    fn a_gap_never_filled_is_reported_at_the_end() {
        let mut follower = AnswerFollower::default();
        assert_eq!(follower.piece(3, 4, "late".into()), [], "held");
        assert!(follower.end(3, 8), "the client lacks the first 4 bytes");
        assert_eq!(follower.piece(3, 8, "stale".into()), [], "the ended answer is over");
        assert_eq!(follower.so_far(3, "stale".into()), []);
        assert!(!follower.end(2, 8), "an older answer is stale too");
        assert!(follower.end(5, 3), "a later answer whose pieces all went missing");
    }

    #[test]
    fn a_new_answer_starts_afresh_and_an_old_ones_news_is_dropped() {
        let mut follower = AnswerFollower::default();
        follower.piece(1, 0, "one".into());
        assert_eq!(follower.so_far(2, String::new()), [Delivery::SoFar(String::new())], "an answer has started");
        assert_eq!(follower.piece(1, 3, "late".into()), [], "the older answer's piece");
        assert_eq!(follower.piece(2, 0, "two".into()), [Delivery::Piece("two".into())]);
    }

    #[test]
    fn what_is_held_is_bounded() {
        let mut follower = AnswerFollower::default();
        for n in 1..10_000 {
            follower.piece(1, n * 100, "x".repeat(100));
        }
        assert!(follower.held_bytes <= MAX_HELD_BYTES);
        assert!(follower.held.keys().all(|&offset| offset <= MAX_ANSWER_BYTES));
        follower.piece(1, 7, "x".into());
        assert_eq!(follower.held_bytes, follower.held.values().map(String::len).sum::<usize>());
    }
}
