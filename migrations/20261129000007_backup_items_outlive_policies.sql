-- A backup item is a copy of a policy as it was: it must survive the
-- policy's later deletion, so it no longer references the policies table.
-- (It also spares a per-row foreign-key check and lock when large backup runs
-- copy many policies; the copy statement joins the tenant's own policies.)
ALTER TABLE backup_items DROP CONSTRAINT backup_items_tenant_id_policy_id_fkey;
