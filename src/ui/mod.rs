//! What errand shows end users in a browser: the widget script and the task pages.
//!
//! - `widget.rs`: `/widget/errand.js`, the `<errand-tasks>` element (`assets/errand.js`),
//!   embedded in the binary.
//! - `session.rs`: who is looking. The application hands a user token over once, as
//!   `?token=`; errand keeps it in an HttpOnly, SameSite=Lax cookie scoped to `/ui` and
//!   redirects to the same URL without it. The cookie is good for these pages only, never for
//!   the JSON API.
//! - `pages.rs`: `/ui/tasks`, `/ui/tasks/{id}`, `/ui/tasks/{id}/wait` and the buttons' form
//!   posts; `wait.rs`: the wait page's return-URL guard and its status answer;
//!   `html.rs`: escaping, the page frame and the error pages; `text.rs`: the pages' language
//!   (`?lang=`, else `Accept-Language`, else English) and every word they show, in English
//!   and French.
//!
//! These routes sit outside the API's `ROUTES` table (and its OpenAPI document): they are
//! pages and assets, not API.

mod html;
mod pages;
mod session;
mod text;
mod wait;
mod widget;

pub use html::escape as html_escape;
pub use wait::safe_return;
pub use widget::SCRIPT;

use axum::routing::{get, post};
use axum::{Router, middleware};

use crate::auth::UserTokens;
use crate::engine::Engine;

/// What the pages run with.
#[derive(Clone)]
pub struct UiState {
    /// The engine the pages read from and act through.
    pub engine: Engine,
    /// Verifies the user tokens handed over to the pages.
    pub user_tokens: UserTokens,
}

/// The widget and the pages.
pub fn router(state: UiState) -> Router {
    let pages = Router::new()
        .route("/ui/tasks", get(pages::list))
        .route("/ui/tasks/{id}", get(pages::details))
        .route("/ui/tasks/{id}/wait", get(wait::page))
        .route("/ui/tasks/{id}/status", get(wait::status))
        .route("/ui/tasks/{id}/cancel", post(pages::cancel))
        .route("/ui/tasks/{id}/retry", post(pages::retry))
        .route("/ui/tasks/{id}/dismiss", post(pages::dismiss))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::handover,
        ))
        .layer(middleware::from_fn(html::localize))
        .with_state(state);
    Router::new()
        .route("/widget/errand.js", get(widget::script))
        .merge(pages)
}
