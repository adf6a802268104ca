//! opshub: a multi-tenant operations runs monitoring hub.
//!
//! - `model`: types and pure logic shared by server and browser
//! - `api`: server functions, the only data path from the UI
//! - `ui`: pages and components
//! - `server`, `db`, `engine`, `seed`, `cli`: server-only (feature `ssr`)
//! - `bench`: measurements, built only with the `bench` feature

pub mod api;
pub mod app;
pub mod error;
pub mod model;
pub mod ui;

#[cfg(feature = "bench")]
pub mod bench;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod engine;
#[cfg(feature = "ssr")]
pub mod seed;
#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
