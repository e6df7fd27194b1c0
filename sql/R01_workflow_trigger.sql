-- requires: public.workflowtracker_events
-- Re-applied by every install-sql run (the table may appear after the first run).
CREATE SCHEMA IF NOT EXISTS biomero_reactor;

-- NOTIFY on BIOMERO's WorkflowCompleted rows: the row id only. Never fails the insert.
CREATE OR REPLACE FUNCTION biomero_reactor.notify_workflow_completed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    BEGIN
        PERFORM pg_notify('biomero_reactor_workflow', NEW.id::text);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'biomero_reactor: notify failed (%), the reactor will catch up by polling', SQLERRM;
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER biomero_reactor_workflow_completed
    AFTER INSERT ON public.workflowtracker_events
    FOR EACH ROW
    WHEN (NEW.topic = 'biomero.eventsourcing:WorkflowRun.WorkflowCompleted')
    EXECUTE FUNCTION biomero_reactor.notify_workflow_completed();
