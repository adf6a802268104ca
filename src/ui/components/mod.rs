pub mod bell;
pub mod charts;
pub mod error_panel;
pub mod progress;
pub mod status_badge;
pub mod tenant_switcher;
pub mod timestamp;
pub mod top_bar;
