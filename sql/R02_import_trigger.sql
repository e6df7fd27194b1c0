-- requires: public.imports
-- Re-applied by every install-sql run, in the importer's database.
CREATE SCHEMA IF NOT EXISTS biomero_reactor;

-- NOTIFY {uuid, stage} for the importer's rows of upload orders the reactor wrote
-- (UUIDv5: version nibble 5). Never fails the importer's write.
CREATE OR REPLACE FUNCTION biomero_reactor.notify_import_stage() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    BEGIN
        PERFORM pg_notify('biomero_reactor_import',
                          json_build_object('uuid', NEW.uuid, 'stage', NEW.stage)::text);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'biomero_reactor: notify failed (%), the reactor will catch up by polling', SQLERRM;
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER biomero_reactor_import_inserted
    AFTER INSERT ON public.imports
    FOR EACH ROW
    WHEN (substr(NEW.uuid, 15, 1) = '5')
    EXECUTE FUNCTION biomero_reactor.notify_import_stage();
CREATE OR REPLACE TRIGGER biomero_reactor_import_stage_changed
    AFTER UPDATE OF stage ON public.imports
    FOR EACH ROW
    WHEN (substr(NEW.uuid, 15, 1) = '5' AND OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION biomero_reactor.notify_import_stage();
