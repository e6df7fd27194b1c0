-- The poison-event rule. Before intake decodes a WorkflowCompleted event it commits the
-- event's id here, on a session of its own; the batch's commit clears it. A marker still
-- set after the cursor, left by another process whose session is gone, means that
-- process died (crashed, or was killed by the watchdog) working on that event: the next
-- intake skips the event with the reason recorded in biomero_reactor.workflows instead of
-- dying on it again at every start.
CREATE TABLE biomero_reactor.intake_marker (
    source      text PRIMARY KEY,
    event_id    bigint,           -- NULL: no event in progress
    owner       text,             -- the marking process: instance and a random id per start
    backend_pid integer,          -- the marking session's server process
    marked_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO biomero_reactor.intake_marker (source) VALUES ('workflowtracker_events');
