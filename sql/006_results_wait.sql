-- A job waiting for its results is parked (released, due again soon) instead of holding
-- a job slot for the whole results.wait: this is when its wait began, so the deadline
-- holds across the parks. Set when the job enters `archiving`; cleared by a failed step,
-- whose retry waits afresh.
ALTER TABLE biomero_reactor.jobs ADD COLUMN results_wait_since timestamptz;
