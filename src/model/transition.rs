//! The state machine as a pure function: which transition may leave which state, and where it leads.
//!
//! Stores never write a state of their own making: they ask [`Transition::apply`] for the target
//! and guard their `UPDATE` with [`Transition::sources`], so the table below is the only place
//! where the rules live.

use std::fmt;

use super::State;

/// A change of state, named for what happens to the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// `scheduled → queued`: its time has come.
    Promote,
    /// `queued → running`: a worker took it (or the application reported that it started).
    Claim,
    /// `running → succeeded`.
    Succeed,
    /// `running → failed`: the last attempt failed, or the failure is permanent.
    Fail,
    /// `running → scheduled`: a retryable failure, to be tried again after a backoff.
    RetryLater,
    /// `running → queued`: the attempt was handed back (graceful drain) or its lease was lost.
    Requeue,
    /// `running → waiting`: the task needs the user's input.
    AwaitInput,
    /// `waiting → queued`: the user answered.
    Resume,
    /// Any state that is not final `→ cancelled`.
    Cancel,
    /// `scheduled | queued → expired`: never started before its `expires_at`.
    Expire,
    /// `scheduled | queued → scheduled`: a debounced enqueue replaced the payload and pushed back the start.
    Debounce,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 11] = [
        Transition::Promote,
        Transition::Claim,
        Transition::Succeed,
        Transition::Fail,
        Transition::RetryLater,
        Transition::Requeue,
        Transition::AwaitInput,
        Transition::Resume,
        Transition::Cancel,
        Transition::Expire,
        Transition::Debounce,
    ];

    /// The state this transition leads to from `from`, or why it may not happen.
    pub fn apply(self, from: State) -> Result<State, IllegalTransition> {
        use State::*;
        use Transition::*;
        let to = match (self, from) {
            (Promote, Scheduled) => Queued,
            (Claim, Queued) => Running,
            (Succeed, Running) => Succeeded,
            (Fail, Running) => Failed,
            (RetryLater, Running) => Scheduled,
            (Requeue, Running) => Queued,
            (AwaitInput, Running) => Waiting,
            (Resume, Waiting) => Queued,
            (Cancel, Scheduled | Queued | Running | Waiting) => Cancelled,
            (Expire, Scheduled | Queued) => Expired,
            (Debounce, Scheduled | Queued) => Scheduled,
            (transition, from) => return Err(IllegalTransition { from, transition }),
        };
        Ok(to)
    }

    /// The states this transition may leave, for a store's `WHERE state IN (…)` guard.
    pub fn sources(self) -> impl Iterator<Item = State> {
        State::ALL
            .into_iter()
            .filter(move |from| self.apply(*from).is_ok())
    }

    /// A short verb for logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Promote => "promote",
            Transition::Claim => "claim",
            Transition::Succeed => "succeed",
            Transition::Fail => "fail",
            Transition::RetryLater => "retry",
            Transition::Requeue => "requeue",
            Transition::AwaitInput => "await input",
            Transition::Resume => "resume",
            Transition::Cancel => "cancel",
            Transition::Expire => "expire",
            Transition::Debounce => "debounce",
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition asked of a task in a state that does not allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {transition} a task that is {from}")]
pub struct IllegalTransition {
    /// The state the task was in.
    pub from: State,
    /// What was asked.
    pub transition: Transition,
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;
    use proptest::prelude::*;

    /// The edges of DESIGN.md, written out independently of `apply`.
    const DESIGN_EDGES: &[(State, State)] = &[
        (Scheduled, Queued),
        (Queued, Running),
        (Running, Succeeded),
        (Running, Failed),
        (Running, Cancelled),
        (Running, Queued),
        (Running, Scheduled),
        (Running, Waiting),
        (Waiting, Queued),
        (Scheduled, Cancelled),
        (Queued, Cancelled),
        (Waiting, Cancelled),
        (Scheduled, Expired),
        (Queued, Expired),
        (Scheduled, Scheduled),
        (Queued, Scheduled),
    ];

    #[test]
    fn every_pair_is_allowed_exactly_when_the_design_lists_it() {
        for from in State::ALL {
            for transition in Transition::ALL {
                match transition.apply(from) {
                    Ok(to) => assert!(
                        DESIGN_EDGES.contains(&(from, to)),
                        "{transition} takes {from} to {to}, an edge the design does not have"
                    ),
                    Err(err) => assert_eq!(err, IllegalTransition { from, transition }),
                }
            }
        }
        for &(from, to) in DESIGN_EDGES {
            assert!(
                Transition::ALL.iter().any(|t| t.apply(from) == Ok(to)),
                "no transition takes {from} to {to}"
            );
        }
    }

    #[test]
    fn final_states_are_left_by_nothing() {
        for from in State::FINAL {
            for transition in Transition::ALL {
                assert!(transition.apply(from).is_err());
            }
        }
    }

    #[test]
    fn sources_are_exactly_the_states_apply_accepts() {
        assert_eq!(
            Transition::Cancel.sources().collect::<Vec<_>>(),
            vec![Scheduled, Queued, Running, Waiting]
        );
        assert_eq!(
            Transition::Claim.sources().collect::<Vec<_>>(),
            vec![Queued]
        );
    }

    fn any_transition() -> impl Strategy<Value = Transition> {
        proptest::sample::select(Transition::ALL.to_vec())
    }

    proptest! {
        /// A random walk from either starting state: every accepted step is an edge of the
        /// design, a refused step leaves the state alone, and a final state ends the walk.
        #[test]
        fn random_walks_only_take_design_edges(
            start_delayed in any::<bool>(),
            walk in proptest::collection::vec(any_transition(), 0..64),
        ) {
            let mut state = if start_delayed { Scheduled } else { Queued };
            for transition in walk {
                let before = state;
                match transition.apply(state) {
                    Ok(to) => {
                        prop_assert!(!before.is_final());
                        prop_assert!(DESIGN_EDGES.contains(&(before, to)));
                        state = to;
                    }
                    Err(err) => prop_assert_eq!(err.from, before),
                }
            }
        }
    }
}
