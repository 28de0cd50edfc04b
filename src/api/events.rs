//! `GET /v1/events`: the task events as Server-Sent Events, for the widget and the pages.
//!
//! - Each event carries the store's sequence number as its id; `Last-Event-ID` (or `?since=`)
//!   resumes from the stored events without a gap, then follows the live stream. A stream
//!   opened without either starts now, with a `ready` event whose id is the latest number.
//! - A user token sees its owner's events only (routed on the server, `fanout.rs`: a stream is
//!   woken by the events it shows, not by every event); a key with `read` sees all, or one
//!   owner's with `?owner=`.
//! - A slow client never holds the engine back: each stream's live queue is bounded, and a
//!   client that falls behind gets a `resync` event, after which it refetches what it shows.
//! - A comment every 15 s keeps proxies from closing an idle stream, and every stream ends
//!   when the server shuts down (open streams would otherwise hold the shutdown).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ApiQuery};
use super::fanout::{Follows, Received, Subscription};
use crate::auth::Scope;
use crate::metrics::StreamGuard;
use crate::model::Event;

/// How many stored events one read of a replay takes.
const REPLAY_PAGE: usize = 500;
/// How often an idle stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The parameters of `GET /v1/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct EventParams {
    /// Resume after this event number (as `Last-Event-ID` does).
    since: Option<i64>,
    /// Only this owner's events (an API key; a user token sees its own only).
    owner: Option<String>,
    /// A user token, since EventSource cannot set headers (read by [`Caller`]).
    #[serde(rename = "token")]
    _token: Option<String>,
}

/// The task events, as a stream of Server-Sent Events.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(
        EventParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event number"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `ready`, `task` (data: seq, kind, from, task) and `resync` events", content_type = "text/event-stream", body = String),
        (status = 401, description = "No credentials, or an expired user token (`token_expired`)", body = super::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn stream(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let owner = match caller.owner() {
        Some(owner) => {
            if params.owner.as_deref().is_some_and(|asked| asked != owner) {
                return Err(ApiError::forbidden(
                    "a user token follows its own tasks only",
                ));
            }
            Some(owner.to_owned())
        }
        None => {
            caller.require(Scope::Read)?;
            params.owner
        }
    };
    let since = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::invalid("Last-Event-ID is not an event number"))?,
        ),
        None => params.since,
    };
    // Subscribed before anything is read, so that nothing falls between the stored events
    // and the live ones.
    let live = state.fanout.subscribe(match &owner {
        Some(owner) => Follows::Owner(owner.clone()),
        None => Follows::Everyone,
    });
    let (after, hello) = match since {
        Some(after) => (after.max(0), None),
        None => {
            let latest = state.engine().store().last_event_seq().await?;
            (latest, Some(latest))
        }
    };
    let state_shutdown = state.inner.shutdown.clone().cancelled_owned();
    let feed = Feed {
        _open: state.inner.metrics.stream_opened(),
        state,
        owner,
        live,
        backlog: VecDeque::new(),
        after,
        replaying: since.is_some(),
        hello,
        stopped: Box::pin(state_shutdown),
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keepalive")))
}

/// One client's stream: stored events first when it resumes, then the live ones.
struct Feed {
    state: ApiState,
    owner: Option<String>,
    /// The live events this stream shows.
    live: Subscription,
    backlog: VecDeque<Event>,
    /// The last event number sent (or the one the client resumes after).
    after: i64,
    /// Still reading stored events.
    replaying: bool,
    /// The `ready` event still to send, with the number the stream starts after.
    hello: Option<i64>,
    /// Resolves when the server stops; made once, not on every wait (a wake-up per event and
    /// stream otherwise).
    stopped: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    /// Counts the stream in `/metrics` while it is open.
    _open: StreamGuard,
}

impl Feed {
    /// The next event to send; `None` ends the stream (the server stops, or the store
    /// failed: the client reconnects and resumes).
    async fn next(&mut self) -> Option<SseEvent> {
        if let Some(latest) = self.hello.take() {
            return Some(
                SseEvent::default()
                    .event("ready")
                    .id(latest.to_string())
                    .data("{}"),
            );
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.after = event.seq;
                return Some(task_event(&event));
            }
            if self.replaying {
                let stored = self
                    .state
                    .engine()
                    .store()
                    .events_since(self.after, self.owner.as_deref(), REPLAY_PAGE)
                    .await
                    .ok()?;
                self.replaying = stored.len() == REPLAY_PAGE;
                self.backlog.extend(stored);
                continue;
            }
            let received = tokio::select! {
                () = &mut self.stopped => return None,
                received = self.live.recv() => received,
            };
            match received {
                // Already sent if the stream read it from the store.
                Received::Event(event) if event.seq > self.after => {
                    self.after = event.seq;
                    return Some(task_event(&event));
                }
                Received::Event(_) => {}
                Received::Lagged => {
                    return Some(SseEvent::default().event("resync").data("{}"));
                }
                Received::Closed => return None,
            }
        }
    }
}

/// A task event as sent: its number as the id, and the task as the API shows it.
fn task_event(event: &Event) -> SseEvent {
    let data = json!({
        "seq": event.seq,
        "kind": event.kind.as_str(),
        "from": event.from.map(|state| state.as_str()),
        "task": event.task,
    });
    SseEvent::default()
        .event("task")
        .id(event.seq.to_string())
        .data(data.to_string())
}
