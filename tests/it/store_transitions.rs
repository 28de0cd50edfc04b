//! A property test on the real stores (SQLite, and PostgreSQL when the conformance suite has
//! a database): random sequences of every store operation on a
//! task, each checked against an oracle built on the state machine. No operation may produce a
//! transition the design does not allow, a refused operation changes nothing, and a stale
//! attempt never writes.

use std::sync::Arc;
use std::time::Duration;

use errand::model::{ErrorInfo, EventKind, NewTask, Progress, Queue, State, Task, Transition};
use errand::store::{ClaimRequest, Lease, Outcome, Store, StoreError};
use jiff::Timestamp;
use proptest::prelude::*;
use uuid::Uuid;

use crate::conformance::PgSchema;
use crate::util::TestDb;

#[derive(Debug, Clone)]
enum Op {
    Promote,
    Claim,
    Progress { stale: bool },
    Finish { outcome: u8, stale: bool },
    Cancel,
    Resume,
    Dismiss,
    Expire,
    RescueLeases,
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Promote),
        3 => Just(Op::Claim),
        1 => any::<bool>().prop_map(|stale| Op::Progress { stale }),
        3 => (0u8..6, any::<bool>()).prop_map(|(outcome, stale)| Op::Finish { outcome, stale }),
        1 => Just(Op::Cancel),
        1 => Just(Op::Resume),
        1 => Just(Op::Dismiss),
        1 => Just(Op::Expire),
        1 => Just(Op::RescueLeases),
    ]
}

fn outcome(n: u8, now: Timestamp) -> Outcome {
    let error = ErrorInfo {
        message: "failed".into(),
        detail: None,
    };
    match n {
        0 => Outcome::Succeeded {
            result: None,
            result_url: None,
            message: None,
        },
        1 => Outcome::Failed(error),
        2 => Outcome::RetryAt { error, at: now },
        3 => Outcome::NeedsInput {
            input_url: None,
            message: None,
        },
        4 => Outcome::Cancelled,
        _ => Outcome::HandedBack,
    }
}

fn transition_of(outcome: &Outcome) -> Transition {
    match outcome {
        Outcome::Succeeded { .. } => Transition::Succeed,
        Outcome::Failed(_) => Transition::Fail,
        Outcome::RetryAt { .. } => Transition::RetryLater,
        Outcome::NeedsInput { .. } => Transition::AwaitInput,
        Outcome::Cancelled => Transition::Cancel,
        Outcome::HandedBack => Transition::Requeue,
    }
}

/// What the oracle expects of the task.
#[derive(Debug, Clone)]
struct Expected {
    state: State,
    attempt: u32,
    started: bool,
    dismissed: bool,
    cancel_requested: bool,
}

const MAX_ATTEMPTS: u32 = 3;

async fn run_sequence(
    store: Arc<dyn Store>,
    delayed: bool,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut events = store.subscribe();
    store.upsert_queue(&Queue::new("default")).await.unwrap();
    let mut now = Timestamp::now();
    let expires_at = now + Duration::from_secs(3600 * 24);
    let mut new = NewTask::new("work").max_attempts(MAX_ATTEMPTS);
    new.expires_at = Some(expires_at);
    if delayed {
        new = new.run_at(now + Duration::from_secs(60));
    }
    let task = store.enqueue(vec![new], now).await.unwrap().remove(0).task;
    let id = task.id;
    let mut expected = Expected {
        state: if delayed {
            State::Scheduled
        } else {
            State::Queued
        },
        attempt: 0,
        started: false,
        dismissed: false,
        cancel_requested: false,
    };
    prop_assert_eq!(task.state, expected.state);
    let mut lease: Option<Lease> = None;
    let mut old_leases: Vec<Lease> = Vec::new();
    let mut last_seq = events.recv().await.unwrap().seq;

    for op in ops {
        now += Duration::from_secs(1);
        let before = expected.clone();
        // What the oracle says the op does: the transition it asks for, if any.
        let (asked, answer): (Option<Transition>, Result<(), StoreError>) = match &op {
            Op::Promote => {
                let later = now + Duration::from_secs(120);
                now = later;
                let moved = store.promote_due(later).await.unwrap();
                prop_assert_eq!(moved, u64::from(before.state == State::Scheduled));
                (Some(Transition::Promote).filter(|_| moved == 1), Ok(()))
            }
            Op::Claim => {
                let claimed = store
                    .claim(&ClaimRequest {
                        queue: "default".into(),
                        limit: 1,
                        node: Uuid::now_v7(),
                        lease_until: now + Duration::from_secs(30),
                        now,
                    })
                    .await
                    .unwrap();
                prop_assert_eq!(claimed.len(), usize::from(before.state == State::Queued));
                if let Some(task) = claimed.first() {
                    if let Some(old) = lease.replace(Lease {
                        id,
                        fence: task.fence,
                    }) {
                        prop_assert!(task.fence > old.fence);
                        old_leases.push(old);
                    }
                    expected.attempt += 1;
                    expected.started = true;
                    expected.cancel_requested = false;
                    prop_assert_eq!(task.attempt, expected.attempt);
                }
                (claimed.first().map(|_| Transition::Claim), Ok(()))
            }
            Op::Progress { stale } => {
                let chosen = if *stale {
                    old_leases.last().copied()
                } else {
                    lease
                };
                let Some(chosen) = chosen else { continue };
                let answer = store
                    .report_progress(chosen, Progress::percent(10.0), now)
                    .await
                    .map(|_| ());
                let current = Some(chosen) == lease && before.state == State::Running;
                prop_assert_eq!(answer.is_ok(), current, "{:?}", answer);
                (None, answer)
            }
            Op::Finish { outcome: n, stale } => {
                let chosen = if *stale {
                    old_leases.last().copied()
                } else {
                    lease
                };
                let Some(chosen) = chosen else { continue };
                let outcome = outcome(*n, now);
                let mut transition = transition_of(&outcome);
                let mut handed_back = matches!(outcome, Outcome::HandedBack);
                let would_run_again = matches!(
                    transition,
                    Transition::RetryLater | Transition::AwaitInput | Transition::Requeue
                );
                if would_run_again && before.cancel_requested {
                    // A cancellation asked while it ran ends it instead.
                    transition = Transition::Cancel;
                    handed_back = false;
                } else if transition == Transition::RetryLater && before.attempt >= MAX_ATTEMPTS {
                    transition = Transition::Fail;
                }
                let answer = store.finish(chosen, outcome, now).await.map(|_| ());
                let current = Some(chosen) == lease && before.state == State::Running;
                prop_assert_eq!(answer.is_ok(), current, "{:?}", answer);
                if !current {
                    let stale = matches!(answer, Err(StoreError::StaleAttempt { .. }));
                    prop_assert!(stale, "{:?}", answer);
                } else if handed_back {
                    expected.attempt -= 1;
                }
                (Some(transition).filter(|_| current), answer)
            }
            Op::Cancel => {
                let answer = store.cancel(id, now).await.map(|_| ());
                if before.state == State::Running {
                    prop_assert!(answer.is_ok());
                    expected.cancel_requested = true;
                    (None, answer)
                } else {
                    prop_assert_eq!(
                        answer.is_ok(),
                        Transition::Cancel.apply(before.state).is_ok()
                    );
                    (Some(Transition::Cancel).filter(|_| answer.is_ok()), answer)
                }
            }
            Op::Resume => {
                let answer = store
                    .resume(id, Some(serde_json::json!(1)), now)
                    .await
                    .map(|_| ());
                prop_assert_eq!(answer.is_ok(), before.state == State::Waiting);
                if answer.is_ok() {
                    expected.attempt -= 1;
                }
                (Some(Transition::Resume).filter(|_| answer.is_ok()), answer)
            }
            Op::Dismiss => {
                let answer = store.dismiss(id, now).await.map(|_| ());
                prop_assert_eq!(answer.is_ok(), before.state.is_final());
                if answer.is_ok() {
                    expected.dismissed = true;
                }
                (None, answer)
            }
            Op::Expire => {
                let expired = store
                    .expire_overdue(expires_at + Duration::from_secs(1))
                    .await
                    .unwrap();
                let due =
                    matches!(before.state, State::Scheduled | State::Queued) && !before.started;
                prop_assert_eq!(expired, u64::from(due));
                (Some(Transition::Expire).filter(|_| due), Ok(()))
            }
            Op::RescueLeases => {
                let later = now + Duration::from_secs(60);
                now = later;
                let rescued = store.rescue_expired_leases(later).await.unwrap();
                let running = before.state == State::Running;
                prop_assert_eq!(rescued, u64::from(running));
                let transition = if before.cancel_requested {
                    Transition::Cancel
                } else if before.attempt >= MAX_ATTEMPTS {
                    Transition::Fail
                } else {
                    Transition::Requeue
                };
                (Some(transition).filter(|_| running), Ok(()))
            }
        };
        if let Some(transition) = asked {
            let to = transition.apply(before.state);
            prop_assert!(
                to.is_ok(),
                "{:?} from {:?} was allowed by the store",
                transition,
                before.state
            );
            expected.state = to.unwrap();
            expected.cancel_requested = false;
        }
        if let Err(err) = &answer {
            let expected_refusal = matches!(
                err,
                StoreError::Illegal { .. }
                    | StoreError::StaleAttempt { .. }
                    | StoreError::NotFinal { .. }
            );
            prop_assert!(expected_refusal, "{:?}: {}", op, err);
        }
        // Every event since the last op is a legal step, numbered in order.
        let mut state = before.state;
        while let Ok(event) = events.try_recv() {
            prop_assert!(event.seq > last_seq);
            last_seq = event.seq;
            match event.kind {
                EventKind::StateChanged => {
                    prop_assert_eq!(event.from, Some(state));
                    let legal = Transition::ALL
                        .iter()
                        .any(|t| t.apply(state) == Ok(event.task.state));
                    prop_assert!(legal, "illegal {:?} -> {:?}", state, event.task.state);
                    state = event.task.state;
                }
                EventKind::Created => prop_assert!(false, "a second task was created"),
                _ => prop_assert_eq!(event.task.state, state),
            }
        }
        prop_assert_eq!(state, expected.state, "after {:?}", op);
        let stored: Task = store.get(id).await.unwrap().unwrap();
        prop_assert_eq!(stored.state, expected.state, "after {:?}", op);
        prop_assert_eq!(stored.attempt, expected.attempt, "after {:?}", op);
        prop_assert_eq!(stored.dismissed, expected.dismissed);
        prop_assert_eq!(
            stored.cancel_requested,
            expected.cancel_requested,
            "after {:?}",
            op
        );
        prop_assert!(stored.attempt <= MAX_ATTEMPTS);
        prop_assert_eq!(stored.finished_at.is_some(), stored.state.is_final());
        if before.state.is_final() {
            prop_assert_eq!(stored.state, before.state, "a final task changed state");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_on_the_store_only_take_legal_transitions(
        delayed in any::<bool>(),
        ops in proptest::collection::vec(any_op(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let db = TestDb::new();
        runtime.block_on(run_sequence(db.store(), delayed, ops))?;
    }
}

proptest! {
    // Fewer cases: each takes a fresh schema.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_on_the_postgres_store_only_take_legal_transitions(
        delayed in any::<bool>(),
        ops in proptest::collection::vec(any_op(), 1..40),
    ) {
        let Some(schema) = PgSchema::new() else { return Ok(()) };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = schema.store().await;
            run_sequence(store, delayed, ops).await
        })?;
    }
}
