//! The operations opshub runs, one file each. A new kind implements
//! [`Operation`](super::operation::Operation), gets an
//! [`OperationKind`](crate::model::OperationKind), and is named in `find`.

pub mod backup_add_policies;
pub mod drift_generate;
pub mod inventory_sync;

use super::operation::Operation;
use crate::model::OperationKind;

/// The operation that executes runs of `kind`.
pub fn find(kind: OperationKind) -> &'static dyn Operation {
    match kind {
        OperationKind::InventorySync => &inventory_sync::InventorySync,
        OperationKind::DriftGenerate => &drift_generate::DriftGenerate,
        OperationKind::BackupSetAddPolicies => &backup_add_policies::BackupAddPolicies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_operation() {
        for kind in OperationKind::ALL {
            assert_eq!(find(kind).kind(), kind);
        }
    }
}
