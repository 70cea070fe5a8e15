//! The dashboard (placeholder until the pages land).
use std::sync::Arc;

use axum::Router;

use crate::App;

pub fn router() -> Router<Arc<App>> {
    Router::new()
}
