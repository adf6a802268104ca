//! Pages and the components they are built from.

pub mod components;
pub mod live;
pub mod markup;
pub mod pages;
