//! The tenant an operator is looking at, and the ones they may switch to.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantChoice {
    pub slug: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantContext {
    pub current: TenantChoice,
    pub choices: Vec<TenantChoice>,
}
