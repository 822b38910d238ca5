//! Watches and what makes them fire: pure types and matching, no I/O (docs/NOTIFY.md §2).

use dossier_beliefs::{BeliefChange, BeliefSummary, BeliefValue, Flag};
use dossier_model::{ClaimValue, Marking};
use serde::{Deserialize, Serialize};

/// Which questions a watch follows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// One question, by id (it need not be posed yet).
    Question {
        /// The question id, e.g. `question:dam-strike`.
        question: String,
    },
    /// Every question the watcher's clearance sees.
    All,
}

/// How far a value must move for a [`Trigger::Moved`] watch to fire.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "by", rename_all = "snake_case")]
pub enum Threshold {
    /// By more than this many units of the question: `|after − before| > by`.
    Absolute(f64),
    /// By more than this fraction of the value before: `|after − before| > by × |before|`
    /// (0.1 is 10 %; from a value of 0, any move).
    Relative(f64),
}

/// What change of a followed question's belief fires a watch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum Trigger {
    /// Every change of belief (anything the read API's history lists).
    Change,
    /// The belief became disputed: `disputed` is among the flags after and was not before.
    Disputed,
    /// A forecast was resolved: `forecast_resolved_true` or `forecast_resolved_false` is among
    /// the flags after and neither was before.
    Resolved,
    /// The numeric value moved by more than a threshold; both the value before and after must
    /// be numeric (a quantity, a range's midpoint).
    Moved {
        /// The threshold.
        threshold: Threshold,
    },
}

/// Why a watch definition is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WatchError {
    /// The question id is not a question's id.
    #[error("{0:?} is not a question id (question:…)")]
    Question(String),
    /// The URL is not an absolute http(s) URL.
    #[error("the webhook URL {url:?}: {why}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The URL is not one watches may deliver to ([`crate::WebhookPolicy`]).
    #[error("the webhook URL {url:?} is not allowed: {why}")]
    NotAllowed {
        /// The URL given.
        url: String,
        /// Why not.
        why: String,
    },
    /// The threshold is not a finite positive number.
    #[error("the threshold must be a finite number above 0, not {0}")]
    Threshold(f64),
}

/// A watch as requested: what to follow, what fires it, where to deliver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchSpec {
    /// The question to follow; absent: every question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// What fires it (default: every change).
    #[serde(default)]
    pub trigger: Trigger,
    /// The webhook's URL (http or https).
    pub url: String,
}

impl Default for Trigger {
    /// [`Trigger::Change`].
    fn default() -> Trigger {
        Trigger::Change
    }
}

impl WatchSpec {
    /// Checks the definition: the question id, the URL, the threshold.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<(), WatchError> {
        if let Some(q) = &self.question {
            let ok = dossier_model::EntityId::parse(q)
                .is_ok_and(|id| id.as_str().starts_with("question:"));
            if !ok {
                return Err(WatchError::Question(q.clone()));
            }
        }
        let url = url::Url::parse(&self.url).map_err(|e| WatchError::Url {
            url: self.url.clone(),
            why: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(WatchError::Url {
                url: self.url.clone(),
                why: "not an http or https URL with a host".into(),
            });
        }
        if let Trigger::Moved { threshold } = self.trigger {
            let by = match threshold {
                Threshold::Absolute(b) | Threshold::Relative(b) => b,
            };
            if !(by.is_finite() && by > 0.0) {
                return Err(WatchError::Threshold(by));
            }
        }
        Ok(())
    }

    /// The scope it follows.
    #[must_use]
    pub fn scope(&self) -> Scope {
        match &self.question {
            Some(q) => Scope::Question {
                question: q.clone(),
            },
            None => Scope::All,
        }
    }
}

/// A stored watch (without its secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Watch {
    /// Its id.
    pub id: String,
    /// The principal it belongs to (an access grant's principal).
    pub principal: String,
    /// The grant it was created under; it fires only while that grant is active.
    pub grant: String,
    /// The principal's clearance when it was created: it fires only on changes visible at it.
    pub clearance: Marking,
    /// What it follows, what fires it, where it delivers.
    #[serde(flatten)]
    pub spec: WatchSpec,
    /// It fires on changes caused by records after this seq (the ledger's head when it was
    /// created, or the notifier's position if that was later).
    pub since: u64,
    /// When it was created (RFC 3339).
    pub created: String,
}

impl Watch {
    /// Whether `change` (visible at the watch's clearance: the caller reads changes for it)
    /// fires the watch.
    #[must_use]
    pub fn fires_on(&self, change: &BeliefChange) -> bool {
        if change.seq <= self.since {
            return false;
        }
        if let Some(q) = &self.spec.question
            && change.question.as_str() != q
        {
            return false;
        }
        self.spec
            .trigger
            .fires_on(change.before.as_ref(), &change.after)
    }
}

fn has(s: Option<&BeliefSummary>, f: Flag) -> bool {
    s.is_some_and(|s| s.flags.contains(&f))
}

impl Trigger {
    /// Whether a change from `before` to `after` fires this trigger.
    #[must_use]
    pub fn fires_on(&self, before: Option<&BeliefSummary>, after: &BeliefSummary) -> bool {
        match self {
            Trigger::Change => true,
            Trigger::Disputed => has(Some(after), Flag::Disputed) && !has(before, Flag::Disputed),
            Trigger::Resolved => {
                let resolved = |s: Option<&BeliefSummary>| {
                    has(s, Flag::ForecastResolvedTrue) || has(s, Flag::ForecastResolvedFalse)
                };
                resolved(Some(after)) && !resolved(before)
            }
            Trigger::Moved { threshold } => {
                let (Some(b), Some(a)) = (
                    before.and_then(|s| number(s.value.as_ref())),
                    number(after.value.as_ref()),
                ) else {
                    return false;
                };
                let moved = (a - b).abs();
                match *threshold {
                    Threshold::Absolute(by) => moved > by,
                    Threshold::Relative(by) => moved > by * b.abs(),
                }
            }
        }
    }
}

/// The number a belief's value stands for: a quantity, or a range's midpoint; else none.
#[must_use]
pub fn number(v: Option<&BeliefValue>) -> Option<f64> {
    match v? {
        BeliefValue::Single { value } => match value {
            ClaimValue::Quantity { value, .. } => Some(*value),
            ClaimValue::Range { low, high, .. } => Some((low + high) / 2.0),
            _ => None,
        },
        BeliefValue::Range { low, high, .. } => Some((low + high) / 2.0),
        BeliefValue::Alternatives { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dossier_beliefs::Summary;

    fn summary(value: Option<f64>, flags: &[Flag]) -> BeliefSummary {
        BeliefSummary {
            value: value.map(|v| BeliefValue::Single {
                value: ClaimValue::Quantity {
                    value: v,
                    qualifier: Default::default(),
                    unit: None,
                },
            }),
            summary: Summary::from_flags(flags),
            flags: flags.to_vec(),
            best_claim: None,
            likelihood: None,
            confidence: None,
        }
    }

    #[test]
    fn disputed_fires_only_when_the_flag_appears() {
        let t = Trigger::Disputed;
        let calm = summary(Some(1.0), &[Flag::Uncontested]);
        let disputed = summary(Some(1.0), &[Flag::Disputed]);
        assert!(t.fires_on(Some(&calm), &disputed));
        assert!(t.fires_on(None, &disputed));
        assert!(!t.fires_on(Some(&disputed), &disputed));
        assert!(!t.fires_on(Some(&disputed), &calm));
    }

    #[test]
    fn resolved_fires_once_on_either_outcome() {
        let t = Trigger::Resolved;
        let pending = summary(None, &[Flag::ForecastPending]);
        let yes = summary(None, &[Flag::ForecastResolvedTrue]);
        let no = summary(None, &[Flag::ForecastResolvedFalse]);
        assert!(t.fires_on(Some(&pending), &yes));
        assert!(t.fires_on(Some(&pending), &no));
        assert!(!t.fires_on(Some(&yes), &no));
        assert!(!t.fires_on(Some(&pending), &pending));
    }

    #[test]
    fn moved_compares_absolute_and_relative_thresholds_strictly() {
        let abs = Trigger::Moved {
            threshold: Threshold::Absolute(10.0),
        };
        let rel = Trigger::Moved {
            threshold: Threshold::Relative(0.5),
        };
        let (a, b, c) = (
            summary(Some(100.0), &[]),
            summary(Some(110.0), &[]),
            summary(Some(151.0), &[]),
        );
        assert!(
            !abs.fires_on(Some(&a), &b),
            "a move of exactly 10 is not more than 10"
        );
        assert!(abs.fires_on(Some(&a), &c));
        assert!(!rel.fires_on(Some(&a), &b));
        assert!(rel.fires_on(Some(&a), &c));
        assert!(!abs.fires_on(None, &c), "no value before: nothing moved");
        assert!(!abs.fires_on(Some(&summary(None, &[])), &c));
        let zero = summary(Some(0.0), &[]);
        assert!(rel.fires_on(Some(&zero), &summary(Some(0.1), &[])));
    }

    #[test]
    fn specs_are_checked() {
        let ok = WatchSpec {
            question: Some("question:a/b".into()),
            trigger: Trigger::Change,
            url: "http://127.0.0.1:9/hook".into(),
        };
        assert_eq!(ok.check(), Ok(()));
        let bad_q = WatchSpec {
            question: Some("claim:a".into()),
            ..ok.clone()
        };
        assert!(matches!(bad_q.check(), Err(WatchError::Question(_))));
        let bad_url = WatchSpec {
            url: "file:///etc/passwd".into(),
            ..ok.clone()
        };
        assert!(matches!(bad_url.check(), Err(WatchError::Url { .. })));
        let bad_t = WatchSpec {
            trigger: Trigger::Moved {
                threshold: Threshold::Relative(f64::NAN),
            },
            ..ok
        };
        assert!(matches!(bad_t.check(), Err(WatchError::Threshold(_))));
    }
}
