//! Event fan-out: one subscriber to the engine's events hands each event to the streams that
//! show it (its owner's, the long polls on its task, and the streams that follow every
//! owner), so that an event wakes those streams only. With every stream subscribed to the
//! engine itself, each event woke every open stream, which then dropped it if it was another
//! owner's: a few microseconds per event and stream, so that 2,000 open pages cost
//! milliseconds per event (BENCHMARKS.md, fan-out).
//!
//! - Each stream has a queue of its own, bounded ([`STREAM_BUFFER`]). A stream whose queue is
//!   full misses the events that do not fit and is told so once ([`Received::Lagged`]): the
//!   stream sends `resync`, and the client refetches. The events still queued are dropped
//!   then, all older than the ones missed: what the client refetches holds them, and an older
//!   state arriving after it would show the task as it no longer is. The router never waits
//!   for a stream.
//! - The router starts with the first stream, subscribed to the engine before that stream is
//!   registered, and registers each stream before the stream reads anything stored: every
//!   event committed after a stream is registered reaches it, and the ones committed before
//!   are in what it reads (the stream drops what it already sent, by number).
//! - If the router itself falls behind the engine's events, every stream is told it lagged;
//!   when the engine's events end, every stream ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::engine::Engine;
use crate::model::{Event, TaskId};

/// How many events wait for one stream at most before it misses some and must resync.
pub(super) const STREAM_BUFFER: usize = 4096;

/// The event streams of one API, by the owner each follows.
pub(super) struct Fanout {
    engine: Engine,
    /// Started with the first stream.
    routes: OnceLock<Arc<Routes>>,
}

/// The open streams; shared by the router and the streams (which remove themselves).
#[derive(Default)]
struct Routes {
    streams: Mutex<Streams>,
}

#[derive(Default)]
struct Streams {
    /// The number of the next stream.
    next: u64,
    /// The streams that follow one owner's events.
    by_owner: HashMap<String, Vec<Outlet>>,
    /// The streams that follow one task's events (long polls).
    by_task: HashMap<TaskId, Vec<Outlet>>,
    /// The streams that follow every owner's.
    everyone: Vec<Outlet>,
}

/// Whose events a stream follows.
#[derive(Debug)]
pub(super) enum Follows {
    /// One owner's.
    Owner(String),
    /// One task's.
    Task(TaskId),
    /// Every owner's.
    Everyone,
}

impl Streams {
    /// The outlets of the streams that follow `follows`, if any.
    fn outlets(&mut self, follows: &Follows) -> Option<&mut Vec<Outlet>> {
        match follows {
            Follows::Owner(owner) => self.by_owner.get_mut(owner),
            Follows::Task(id) => self.by_task.get_mut(id),
            Follows::Everyone => Some(&mut self.everyone),
        }
    }

    /// Adds `outlet` to the streams that follow `follows`.
    fn add(&mut self, follows: &Follows, outlet: Outlet) {
        match follows {
            Follows::Owner(owner) => self.by_owner.entry(owner.clone()).or_default(),
            Follows::Task(id) => self.by_task.entry(*id).or_default(),
            Follows::Everyone => &mut self.everyone,
        }
        .push(outlet);
    }

    /// Removes stream `id`, which follows `follows`, and the key it leaves without streams.
    fn remove(&mut self, follows: &Follows, id: u64) {
        let Some(outlets) = self.outlets(follows) else {
            return;
        };
        outlets.retain(|outlet| outlet.id != id);
        if outlets.is_empty() {
            match follows {
                Follows::Owner(owner) => drop(self.by_owner.remove(owner)),
                Follows::Task(task) => drop(self.by_task.remove(task)),
                Follows::Everyone => {}
            }
        }
    }

    /// Every stream's outlet.
    fn all(&self) -> impl Iterator<Item = &Outlet> {
        let keyed = self.by_owner.values().chain(self.by_task.values());
        keyed.flatten().chain(&self.everyone)
    }
}

/// The router's end of one stream.
struct Outlet {
    id: u64,
    queue: mpsc::Sender<Queued>,
    lagged: Arc<AtomicBool>,
}

/// An event for a stream, or `None`: a wake-up, for a stream to see that it lagged while it
/// was waiting.
type Queued = Option<Arc<Event>>;

/// What a stream receives next.
pub(super) enum Received {
    /// An event it shows.
    Event(Arc<Event>),
    /// Events were dropped since the last: the client must refetch.
    Lagged,
    /// No more events: the engine stopped.
    Closed,
}

/// One stream's end: its events, in order. Dropped, it leaves the routes.
pub(super) struct Subscription {
    id: u64,
    follows: Follows,
    queue: mpsc::Receiver<Queued>,
    lagged: Arc<AtomicBool>,
    routes: Arc<Routes>,
}

impl Fanout {
    /// The fan-out of `engine`'s events; its router starts with the first stream.
    pub(super) fn new(engine: Engine) -> Fanout {
        Fanout {
            engine,
            routes: OnceLock::new(),
        }
    }

    /// Registers a stream of the events that `follows` names; it receives every such event
    /// committed from now on.
    pub(super) fn subscribe(&self, follows: Follows) -> Subscription {
        self.routes
            .get_or_init(|| Routes::start(self.engine.subscribe()))
            .register(follows)
    }
}

impl Routes {
    /// Routes that the router fills from `events`, starting now.
    fn start(events: broadcast::Receiver<Arc<Event>>) -> Arc<Routes> {
        let routes = Arc::new(Routes::default());
        tokio::spawn(route(events, Arc::downgrade(&routes)));
        routes
    }

    /// Registers a stream of the events that `follows` names.
    fn register(self: &Arc<Self>, follows: Follows) -> Subscription {
        let (sender, queue) = mpsc::channel(STREAM_BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut streams = self.lock();
        let id = streams.next;
        streams.next += 1;
        let outlet = Outlet {
            id,
            queue: sender,
            lagged: Arc::clone(&lagged),
        };
        streams.add(&follows, outlet);
        Subscription {
            id,
            follows,
            queue,
            lagged,
            routes: Arc::clone(self),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Subscription {
    /// The next event of the stream: [`Received::Lagged`] if any was dropped since the last
    /// one received, and then none of the events queued before it.
    pub(super) async fn recv(&mut self) -> Received {
        loop {
            if self.lagged.swap(false, Ordering::Relaxed) {
                while self.queue.try_recv().is_ok() {}
                return Received::Lagged;
            }
            match self.queue.recv().await {
                Some(Some(event)) => return Received::Event(event),
                Some(None) => {}
                None => return Received::Closed,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.routes.lock().remove(&self.follows, self.id);
    }
}

/// The router: hands each of the engine's events to the streams that show it, until the
/// engine's events end or the API is gone.
async fn route(mut events: broadcast::Receiver<Arc<Event>>, routes: Weak<Routes>) {
    loop {
        let received = events.recv().await;
        let Some(routes) = routes.upgrade() else {
            return;
        };
        let mut streams = routes.lock();
        match received {
            Ok(event) => {
                if let Some(owner) = &event.task.owner
                    && let Some(outlets) = streams.by_owner.get_mut(owner)
                {
                    deliver(outlets, &event);
                }
                if let Some(outlets) = streams.by_task.get_mut(&event.task.id) {
                    deliver(outlets, &event);
                }
                deliver(&mut streams.everyone, &event);
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(
                    missed,
                    "the event fan-out fell behind; every stream resyncs"
                );
                for outlet in streams.all() {
                    outlet.lagged.store(true, Ordering::Relaxed);
                    // Wakes a stream that waits for its next event (a full queue is awake).
                    let _ = outlet.queue.try_send(None);
                }
            }
            Err(RecvError::Closed) => {
                // Dropping the queues' senders ends every stream.
                streams.by_owner.clear();
                streams.by_task.clear();
                streams.everyone.clear();
                return;
            }
        }
    }
}

/// Queues `event` for each of `outlets`, never waiting: a full queue drops it and marks its
/// stream lagged.
fn deliver(outlets: &mut [Outlet], event: &Arc<Event>) {
    for outlet in outlets {
        match outlet.queue.try_send(Some(Arc::clone(event))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => outlet.lagged.store(true, Ordering::Relaxed),
            // The stream is going: it removes itself.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::Timestamp;

    use super::*;
    use crate::model::{EventKind, NewTask, State};
    use crate::store::settle::created_task;

    fn event(seq: i64, owner: Option<&str>) -> Arc<Event> {
        let mut new = NewTask::new("noop");
        if let Some(owner) = owner {
            new = new.owner(owner);
        }
        let now = Timestamp::now();
        Arc::new(Event {
            seq,
            at: now,
            kind: EventKind::Created,
            from: None,
            task: created_task(&new, State::Queued, 1, now, now),
        })
    }

    fn owner(name: &str) -> Follows {
        Follows::Owner(name.to_owned())
    }

    /// What `stream` receives next, within a deadline.
    async fn next(stream: &mut Subscription) -> Received {
        tokio::time::timeout(Duration::from_secs(10), stream.recv())
            .await
            .expect("the stream received something within 10 s")
    }

    /// The numbers of the events `stream` receives until `last`; `0` for a lag.
    async fn until(stream: &mut Subscription, last: i64) -> Vec<i64> {
        let mut seen = Vec::new();
        loop {
            match next(stream).await {
                Received::Event(event) => {
                    seen.push(event.seq);
                    if event.seq == last {
                        return seen;
                    }
                }
                Received::Lagged => seen.push(0),
                Received::Closed => panic!("the stream ended after {seen:?}"),
            }
        }
    }

    #[tokio::test]
    async fn each_stream_receives_the_events_it_shows_and_no_other() {
        let (engine, events) = broadcast::channel(64);
        let routes = Routes::start(events);
        let mut alice = routes.register(owner("alice"));
        let mut alice_again = routes.register(owner("alice"));
        let mut bob = routes.register(owner("bob"));
        let mut everyone = routes.register(Follows::Everyone);
        for (seq, owner) in [(1, "alice"), (2, "bob"), (3, "carol"), (4, "alice")] {
            engine.send(event(seq, Some(owner))).unwrap();
        }
        engine.send(event(5, None)).unwrap();
        engine.send(event(6, Some("bob"))).unwrap();

        assert_eq!(until(&mut alice, 4).await, [1, 4]);
        assert_eq!(until(&mut alice_again, 4).await, [1, 4]);
        assert_eq!(until(&mut bob, 6).await, [2, 6]);
        assert_eq!(until(&mut everyone, 6).await, [1, 2, 3, 4, 5, 6]);
        // Nothing else waits for alice: the next event she receives is her next one.
        engine.send(event(7, Some("alice"))).unwrap();
        assert_eq!(until(&mut alice, 7).await, [7]);
    }

    #[tokio::test]
    async fn a_long_poll_receives_its_tasks_events_and_no_other() {
        let (engine, events) = broadcast::channel(64);
        let routes = Routes::start(events);
        let first = event(1, Some("alice"));
        let mut waiting = routes.register(Follows::Task(first.task.id));
        let mut alice = routes.register(owner("alice"));
        let again = |seq| {
            let mut later = (*first).clone();
            later.seq = seq;
            Arc::new(later)
        };
        engine.send(Arc::clone(&first)).unwrap();
        engine.send(event(2, Some("alice"))).unwrap();
        engine.send(event(3, None)).unwrap();
        engine.send(again(4)).unwrap();

        assert_eq!(until(&mut waiting, 4).await, [1, 4]);
        assert_eq!(until(&mut alice, 4).await, [1, 2, 4]);
        drop(waiting);
        assert!(routes.lock().by_task.is_empty(), "the poll left the routes");
    }

    #[tokio::test]
    async fn a_full_stream_is_told_it_lagged_once_and_never_holds_the_others() {
        let (engine, events) = broadcast::channel(2 * STREAM_BUFFER);
        let routes = Routes::start(events);
        let mut slow = routes.register(owner("alice"));
        let mut quick = routes.register(owner("alice"));
        let buffer = i64::try_from(STREAM_BUFFER).unwrap();
        let last = buffer + buffer / 2;
        // The quick stream reads half a queue at a time, and misses nothing.
        let mut quick_seen = Vec::new();
        for half in (1..=last).step_by(STREAM_BUFFER / 2) {
            let end = half + buffer / 2 - 1;
            for seq in half..=end {
                engine.send(event(seq, Some("alice"))).unwrap();
            }
            quick_seen.extend(until(&mut quick, end).await);
        }
        let expected: Vec<i64> = (1..=last).collect();
        assert_eq!(quick_seen, expected);
        // The router has handed out every event: the slow stream's queue filled. It is told
        // so once, and what it had queued is dropped (older than what it missed); it goes on
        // with the next event.
        engine.send(event(last + 1, Some("alice"))).unwrap();
        assert_eq!(until(&mut slow, last + 1).await, [0, last + 1]);
    }

    #[tokio::test]
    async fn a_stream_that_ends_leaves_the_routes() {
        let (engine, events) = broadcast::channel(8);
        let routes = Routes::start(events);
        let alice = routes.register(owner("alice"));
        let mut everyone = routes.register(Follows::Everyone);
        drop(alice);
        assert!(routes.lock().by_owner.is_empty());
        engine.send(event(1, Some("alice"))).unwrap();
        assert_eq!(until(&mut everyone, 1).await, [1]);
        drop(everyone);
        assert!(routes.lock().everyone.is_empty());
    }

    #[tokio::test]
    async fn every_stream_resyncs_when_the_router_lags_and_ends_with_the_engine() {
        let (engine, events) = broadcast::channel(2);
        let routes = Routes::start(events);
        let mut alice = routes.register(owner("alice"));
        let mut everyone = routes.register(Follows::Everyone);
        // More than the engine's channel holds, before the router runs.
        for seq in 1..=5 {
            engine.send(event(seq, Some("bob"))).unwrap();
        }
        assert!(matches!(next(&mut alice).await, Received::Lagged));
        engine.send(event(6, Some("bob"))).unwrap();
        let seen = until(&mut everyone, 6).await;
        assert_eq!(seen[0], 0, "told it lagged first: {seen:?}");
        assert!(!seen.contains(&1), "events 1 to 3 were lost: {seen:?}");
        drop(engine);
        assert!(matches!(next(&mut alice).await, Received::Closed));
        assert!(matches!(next(&mut everyone).await, Received::Closed));
    }
}
