//! Riding out an outage of the ledger's server: how long a long-running service (the projector,
//! the auditor) waits before it tries again, and when it says so.

use std::time::Duration;

use crate::LogError;

/// The first wait after a failure.
const FIRST: Duration = Duration::from_millis(250);
/// The longest wait between attempts.
const LONGEST: Duration = Duration::from_secs(5);

impl LogError {
    /// Whether the failure says nothing about the ledger and the same request may succeed
    /// later: the server did not answer or could not be reached. A service waits and retries
    /// on these, and stops on any other.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Server(_))
    }
}

/// The state of a service's connection to the ledger, for exponential backoff with one log line
/// per change of state: [`Outage::failed`] after each transient failure, [`Outage::recovered`]
/// after each success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outage {
    /// The wait before the next attempt, while the ledger's server is unavailable.
    wait: Option<Duration>,
}

impl Outage {
    /// A transient failure: how long to wait before trying again (250 ms, doubling up to 5 s),
    /// and whether the outage just began (the moment to say so).
    pub fn failed(&mut self) -> (Duration, bool) {
        let (wait, began) = match self.wait {
            None => (FIRST, true),
            Some(w) => ((w * 2).min(LONGEST), false),
        };
        self.wait = Some(wait);
        (wait, began)
    }

    /// A success: whether it ended an outage (the moment to say so).
    pub fn recovered(&mut self) -> bool {
        self.wait.take().is_some()
    }

    /// Whether the ledger's server is unavailable now.
    #[must_use]
    pub fn ongoing(&self) -> bool {
        self.wait.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_a_bound_and_each_change_of_state_is_reported_once() {
        let mut o = Outage::default();
        assert!(!o.recovered());
        assert_eq!(o.failed(), (FIRST, true));
        assert_eq!(o.failed(), (FIRST * 2, false));
        for _ in 0..10 {
            o.failed();
        }
        assert_eq!(o.failed(), (LONGEST, false));
        assert!(o.ongoing());
        assert!(o.recovered());
        assert!(!o.recovered());
        assert_eq!(o.failed(), (FIRST, true));
    }
}
