-- A backup run copies up to 5,000 policies into a set in one statement. The
-- foreign key from backup_items to backup_sets checked every new row on its
-- own: one lookup and one row lock of the same set per row, about a quarter
-- of the copy statement's time. The same rule is now checked once per
-- statement, for the distinct sets the new rows name, and refused with the
-- foreign key's error code and constraint name. The sets are locked FOR KEY
-- SHARE as the foreign key locked them, so a set cannot be deleted under a
-- transaction that adds items to it; deleting a set still deletes its items,
-- a set's key cannot change while items name it, and the sets cannot be
-- truncated from under their items.
ALTER TABLE backup_items DROP CONSTRAINT backup_items_tenant_id_backup_set_id_fkey;

CREATE FUNCTION backup_items_sets_exist() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    named bigint;
    locked bigint;
    missing record;
BEGIN
    SELECT count(*) INTO named
    FROM (SELECT DISTINCT tenant_id, backup_set_id FROM new_items) n;
    PERFORM 1
    FROM backup_sets s
    JOIN (SELECT DISTINCT tenant_id, backup_set_id FROM new_items) n
      ON s.tenant_id = n.tenant_id AND s.id = n.backup_set_id
    ORDER BY s.tenant_id, s.id
    FOR KEY SHARE OF s;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < named THEN
        SELECT n.tenant_id, n.backup_set_id INTO missing
        FROM new_items n
        WHERE NOT EXISTS (
            SELECT 1 FROM backup_sets s WHERE s.tenant_id = n.tenant_id AND s.id = n.backup_set_id)
        LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "backup_items" violates foreign key constraint "backup_items_tenant_id_backup_set_id_fkey"'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'backup_items_tenant_id_backup_set_id_fkey',
                  TABLE = 'backup_items',
                  DETAIL = format('Key (tenant_id, backup_set_id)=(%s, %s) is not present in table "backup_sets".',
                                  missing.tenant_id, missing.backup_set_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER backup_items_sets_exist_on_insert
    AFTER INSERT ON backup_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION backup_items_sets_exist();

CREATE TRIGGER backup_items_sets_exist_on_update
    AFTER UPDATE ON backup_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION backup_items_sets_exist();

-- Deleting sets deletes their items (the foreign key's ON DELETE CASCADE).
CREATE FUNCTION backup_sets_delete_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM backup_items i
    USING old_sets o
    WHERE i.tenant_id = o.tenant_id AND i.backup_set_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER backup_sets_delete_items
    AFTER DELETE ON backup_sets
    REFERENCING OLD TABLE AS old_sets
    FOR EACH STATEMENT EXECUTE FUNCTION backup_sets_delete_items();

-- A set's key does not change while items name it (the foreign key's
-- NO ACTION on update).
CREATE FUNCTION backup_sets_keep_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM backup_items i
               WHERE i.tenant_id = OLD.tenant_id AND i.backup_set_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "backup_sets" violates foreign key constraint "backup_items_tenant_id_backup_set_id_fkey" on table "backup_items"'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'backup_items_tenant_id_backup_set_id_fkey',
                  TABLE = 'backup_items',
                  DETAIL = format('Key (tenant_id, id)=(%s, %s) is still referenced from table "backup_items".',
                                  OLD.tenant_id, OLD.id);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER backup_sets_keep_key
    BEFORE UPDATE OF tenant_id, id ON backup_sets
    FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION backup_sets_keep_key();

-- Truncating the sets would leave their items naming nothing.
CREATE FUNCTION backup_sets_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM backup_items) THEN
        RAISE EXCEPTION 'cannot truncate backup_sets while backup_items has rows'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Truncate backup_items first, or delete the sets.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER backup_sets_refuse_truncate
    BEFORE TRUNCATE ON backup_sets
    FOR EACH STATEMENT EXECUTE FUNCTION backup_sets_refuse_truncate();
