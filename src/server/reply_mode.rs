//! CLIENT REPLY: which of a connection's replies are written (Redis's `CLIENT_REPLY_OFF` and
//! `CLIENT_REPLY_SKIP` flags).
//!
//! The commands of a pipeline run out of order across shards, but their replies are written in
//! request order, so the mode is applied there, reply by reply: a `CLIENT REPLY` (or RESET) takes
//! effect at its place in the pipeline whatever ran first. `client|reply` itself only checks its
//! argument and answers +OK; a `CLIENT REPLY` queued in MULTI (+QUEUED, or its reply inside EXEC's
//! array) changes nothing.

use bytes::Bytes;

use crate::protocol::Reply;

/// The connection's reply mode; lives in `ClientInfo`, so it follows a connection moved to
/// another shard.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReplyMode {
    /// CLIENT REPLY OFF: no reply until CLIENT REPLY ON.
    off: bool,
    /// CLIENT REPLY SKIP: the next command's reply is not written.
    skip_next: bool,
}

/// A request that changes the mode when it succeeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Switch {
    On,
    Off,
    Skip,
    /// RESET clears the mode, as Redis's `clearClientConnectionState`.
    Reset,
}

/// The switch `args` asks for, if it is `CLIENT REPLY ON|OFF|SKIP` or RESET.
pub fn switch_of(args: &[Bytes]) -> Option<Switch> {
    match args {
        [name] if name.eq_ignore_ascii_case(b"reset") => Some(Switch::Reset),
        [name, sub, mode]
            if name.eq_ignore_ascii_case(b"client") && sub.eq_ignore_ascii_case(b"reply") =>
        {
            let mode = mode.to_ascii_lowercase();
            match mode.as_slice() {
                b"on" => Some(Switch::On),
                b"off" => Some(Switch::Off),
                b"skip" => Some(Switch::Skip),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The switches of a batch of requests, one per request; `None` when there is none (the common
/// case: then only the current mode matters).
pub fn switches_of(requests: &[Vec<Bytes>]) -> Option<Vec<Option<Switch>>> {
    let switches: Vec<Option<Switch>> = requests.iter().map(|r| switch_of(r)).collect();
    switches.iter().any(Option::is_some).then_some(switches)
}

impl ReplyMode {
    /// Every reply is written (no CLIENT REPLY in effect).
    pub fn is_on(&self) -> bool {
        *self == ReplyMode::default()
    }

    /// Passes one request's reply (with its switch): whether it is written. A switch takes effect
    /// only when its command succeeded (it ran, and was not queued in MULTI).
    pub fn pass(&mut self, switch: Option<Switch>, reply: &Reply) -> bool {
        let skip_this = std::mem::take(&mut self.skip_next);
        let ran = matches!(reply, Reply::Status("OK") | Reply::Status("RESET"));
        match switch.filter(|_| ran) {
            Some(Switch::On | Switch::Reset) => {
                *self = ReplyMode::default();
                true
            }
            Some(Switch::Off) => {
                self.off = true;
                false
            }
            Some(Switch::Skip) => {
                self.skip_next = !self.off;
                false
            }
            None => !self.off && !skip_this,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass_all(mode: &mut ReplyMode, steps: &[Option<Switch>]) -> Vec<bool> {
        steps.iter().map(|s| mode.pass(*s, &Reply::ok())).collect()
    }

    #[test]
    fn skip_hides_the_next_reply_only_and_off_hides_until_on() {
        let mut mode = ReplyMode::default();
        let steps = [
            None,
            Some(Switch::Skip),
            None,
            None,
            Some(Switch::Off),
            None,
            Some(Switch::Skip),
            None,
            Some(Switch::On),
            None,
        ];
        let written = pass_all(&mut mode, &steps);
        assert_eq!(
            written,
            [true, false, false, true, false, false, false, false, true, true]
        );
        assert!(mode.is_on());
    }

    #[test]
    fn a_queued_client_reply_changes_nothing() {
        let mut mode = ReplyMode::default();
        assert!(mode.pass(Some(Switch::Off), &Reply::Status("QUEUED")));
        assert!(mode.is_on());
    }
}
