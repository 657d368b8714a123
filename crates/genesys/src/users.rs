//! The users API as a recipient directory: every user's requested fields, read page by page
//! and held in memory only — never staged, logged or written anywhere.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::{GenesysApi, GenesysError};

/// Users per page asked for.
pub const USERS_PAGE_SIZE: u32 = 100;

/// The most pages read (a guard against a server that never says it is done).
const MAX_PAGES: u32 = 10_000;

/// The fields of every user, by user id (the platform user id, which is the agent id in
/// every export): only `fields` are kept, the rest of each user is dropped as it is read.
/// Pages of `GET /api/v2/users` until `pageCount` says there are no more.
///
/// # Errors
///
/// A [`GenesysError`] of the request (naming the page, never a user), or
/// [`GenesysError::Body`] for a page that is not a users page.
pub async fn user_fields(
    api: &GenesysApi,
    fields: &[String],
) -> Result<HashMap<String, Map<String, Value>>, GenesysError> {
    let mut users = HashMap::new();
    let mut page = 1;
    loop {
        let context = format!("users page {page}");
        let body = api
            .get_json(
                &format!("/api/v2/users?pageSize={USERS_PAGE_SIZE}&pageNumber={page}"),
                &context,
            )
            .await?;
        let not_a_page = || GenesysError::Body {
            endpoint: "GET /api/v2/users".into(),
            context: context.clone(),
        };
        let value: Value = serde_json::from_slice(&body).map_err(|_| not_a_page())?;
        let entities = value["entities"].as_array().ok_or_else(not_a_page)?;
        for user in entities {
            let Some(id) = user["id"].as_str() else {
                continue;
            };
            let kept: Map<String, Value> = fields
                .iter()
                .filter_map(|f| user.get(f).map(|v| (f.clone(), v.clone())))
                .collect();
            users.insert(id.to_owned(), kept);
        }
        let count = value["pageCount"].as_u64().unwrap_or(0);
        if entities.is_empty() || u64::from(page) >= count || page >= MAX_PAGES {
            return Ok(users);
        }
        page += 1;
    }
}
