//! Secrets, and who may do what.
//!
//! - [`ApiKeys`]: the application's keys, each with [`Scope`]s; stored as SHA-256 digests and
//!   compared in constant time.
//! - [`UserTokens`]: short-lived HS256 JWTs (`sub` = owner, `exp`) that an application mints
//!   for its logged-in user, so that the browser sees that user's tasks alone.
//! - [`TaskTokens`]: the per-task token sent with a dispatch, good only for that attempt's
//!   reports.
//! - [`Sealer`]: encrypts the credentials forwarded with a task while it waits in the store.
//! - [`secrets`]: the secrets errand generates for itself when the configuration gives none,
//!   kept in a file so that a restart keeps them.

mod api_keys;
mod crypto;
mod seal;
pub mod secrets;
mod task_token;
mod user_token;

pub use api_keys::{ApiKeys, Scope};
pub use crypto::{constant_time_eq, random_secret};
pub use seal::{SealError, Sealer};
pub use task_token::TaskTokens;
pub use user_token::{MintedToken, TokenError, UserTokens};
