//! The pure core: nothing here touches a database.

pub mod graph;
pub mod guard;
pub mod identify;
pub mod plan;
pub mod release;
pub mod schema;
pub mod set;
pub mod state;

#[cfg(test)]
mod tests;
