//! The state machine as a pure function: which transition may leave which state, and where it
//! leads.
//!
//! Stores never write a state of their own making: they ask [`Transition::apply`] for the
//! target before they write, so the table below is the only place where the rules live.

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
    /// `failed | cancelled | expired → queued`: an operator or the owner asked for another go,
    /// with a fresh budget of attempts.
    Retry,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 12] = [
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
        Transition::Retry,
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
            (Retry, Failed | Cancelled | Expired) => Queued,
            (transition, from) => return Err(IllegalTransition { from, transition }),
        };
        Ok(to)
    }

    /// A short verb for logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Promote => "promote",
            Transition::Claim => "claim",
            Transition::Succeed => "succeed",
            Transition::Fail => "fail",
            Transition::RetryLater => "retry later",
            Transition::Requeue => "requeue",
            Transition::AwaitInput => "await input",
            Transition::Resume => "resume",
            Transition::Cancel => "cancel",
            Transition::Expire => "expire",
            Transition::Debounce => "debounce",
            Transition::Retry => "retry",
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
    use Transition::*;

    /// The edges of DESIGN.md, each with the transition that takes it, written out
    /// independently of `apply`.
    const DESIGN_EDGES: &[(Transition, State, State)] = &[
        (Promote, Scheduled, Queued),
        (Claim, Queued, Running),
        (Succeed, Running, Succeeded),
        (Fail, Running, Failed),
        (RetryLater, Running, Scheduled),
        (Requeue, Running, Queued),
        (AwaitInput, Running, Waiting),
        (Resume, Waiting, Queued),
        (Cancel, Scheduled, Cancelled),
        (Cancel, Queued, Cancelled),
        (Cancel, Running, Cancelled),
        (Cancel, Waiting, Cancelled),
        (Expire, Scheduled, Expired),
        (Expire, Queued, Expired),
        (Debounce, Scheduled, Scheduled),
        (Debounce, Queued, Scheduled),
        (Retry, Failed, Queued),
        (Retry, Cancelled, Queued),
        (Retry, Expired, Queued),
    ];

    #[test]
    fn apply_allows_exactly_the_design_edges() {
        for transition in Transition::ALL {
            for from in State::ALL {
                let edge = DESIGN_EDGES
                    .iter()
                    .find(|(t, f, _)| *t == transition && *f == from);
                match (transition.apply(from), edge) {
                    (Ok(to), Some((_, _, expected))) => {
                        assert_eq!(to, *expected, "{transition} from {from}")
                    }
                    (Ok(to), None) => panic!(
                        "{transition} takes {from} to {to}, an edge the design does not have"
                    ),
                    (Err(err), Some(_)) => {
                        panic!("the design allows {transition} from {from}: {err}")
                    }
                    (Err(err), None) => assert_eq!(err, IllegalTransition { from, transition }),
                }
            }
        }
    }

    #[test]
    fn final_states_are_left_by_nothing_but_a_retry() {
        for from in State::FINAL {
            for transition in Transition::ALL {
                let may_leave = transition == Retry && from != Succeeded;
                assert_eq!(
                    transition.apply(from).is_ok(),
                    may_leave,
                    "{transition} from {from}"
                );
            }
        }
    }

    #[test]
    fn refusals_name_the_state_and_the_transition() {
        let err = Resume.apply(Queued).unwrap_err();
        assert_eq!(err.to_string(), "cannot resume a task that is queued");
    }
}
