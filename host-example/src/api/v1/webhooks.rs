//! `GET /api/v1/webhooks/deliveries` and `POST /api/v1/webhooks/deliveries/{id}/redeliver`:
//! what an operator needs to see and recover deliveries that failed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::companies::paging;
use crate::auth::ServerCaller;
use crate::error::AppError;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::{Delivery, DeliveryStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: Option<DeliveryStatus>,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    per_page: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(super) struct DeliveryList {
    deliveries: Vec<Delivery>,
    page: u32,
    per_page: u32,
    total: u64,
}

pub(super) async fn list(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<DeliveryList>, AppError> {
    let (page, per_page) = paging(q.page, q.per_page)?;
    let offset = u64::from(page - 1) * u64::from(per_page);
    let (total, deliveries) = state
        .store()
        .list_deliveries(q.status, offset, per_page)
        .await?;
    Ok(Json(DeliveryList {
        deliveries,
        page,
        per_page,
        total,
    }))
}

#[derive(Debug, Serialize)]
pub(super) struct Redelivery {
    id: i64,
    status: DeliveryStatus,
}

pub(super) async fn redeliver(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<Redelivery>), AppError> {
    if !state.store().redeliver(id, state.now()).await? {
        return Err(AppError::NoSuch("no webhook delivery has this id"));
    }
    state.webhooks().wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(Redelivery {
            id,
            status: DeliveryStatus::Pending,
        }),
    ))
}
