//! Database errors mapped once into [`StoreError`], and which of them are worth another try.

use tokio_postgres::error::SqlState;

use crate::store::StoreError;

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        StoreError::Database(Box::new(err))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        StoreError::Database(Box::new(err))
    }
}

/// Whether `err` is a deadlock or a serialisation failure: PostgreSQL rolled the transaction
/// back, and running the whole write again is safe (nothing of it was committed).
pub(super) fn is_retryable(err: &StoreError) -> bool {
    let StoreError::Database(source) = err else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| {
            *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        })
}
