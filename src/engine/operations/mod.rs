//! The operations opshub runs, one file each. A new kind implements
//! [`Operation`](super::operation::Operation) and is listed in `all()`.

pub mod backup_add_policies;
pub mod drift_generate;
pub mod inventory_sync;

use super::operation::Operation;
use crate::model::OperationKind;

pub fn all() -> Vec<Box<dyn Operation>> {
    vec![
        Box::new(inventory_sync::InventorySync),
        Box::new(drift_generate::DriftGenerate),
        Box::new(backup_add_policies::BackupAddPolicies),
    ]
}

pub fn find(kind: OperationKind) -> Box<dyn Operation> {
    all()
        .into_iter()
        .find(|op| op.kind() == kind)
        .expect("every kind has an operation")
}
