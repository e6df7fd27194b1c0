-- requires: public.workflowtracker_events
-- Re-applied by every install-sql run (the table may appear after the first run).
CREATE SCHEMA IF NOT EXISTS biomero_reactor;

-- NOTIFY when BIOMERO's handoff import script has published results to the spool: its
-- task's StatusUpdated(HANDED_OFF), or a TaskCompleted whose result starts with the
-- handoff marker. The payload is the task id (the handoff id). Never fails the insert.
CREATE OR REPLACE FUNCTION biomero_reactor.notify_handoff() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    doc jsonb;
BEGIN
    BEGIN
        doc := convert_from(NEW.state, 'UTF8')::jsonb;
        IF (NEW.topic = 'biomero.eventsourcing:Task.StatusUpdated' AND doc->>'status' = 'HANDED_OFF')
           OR (NEW.topic = 'biomero.eventsourcing:Task.TaskCompleted'
               AND doc->>'result' LIKE 'BIOMERO-REACTOR-HANDOFF/1 %') THEN
            PERFORM pg_notify('biomero_reactor_handoff', NEW.originator_id::text);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'biomero_reactor: handoff notify failed (%), the reactor finds it by its spool scan', SQLERRM;
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER biomero_reactor_handoff
    AFTER INSERT ON public.workflowtracker_events
    FOR EACH ROW
    WHEN (NEW.topic IN ('biomero.eventsourcing:Task.StatusUpdated', 'biomero.eventsourcing:Task.TaskCompleted'))
    EXECUTE FUNCTION biomero_reactor.notify_handoff();
