#pragma once
// After a job is imported, BIOMERO's workflow annotations on its imported images (or
// plates), written through OMERO.web as the workflow's user (omero_job.hpp, docs/OMERO.md),
// then the job's label images renamed "<parent> [<label>]" as BIOMERO's import script does.
// It runs beside the pipeline and never changes the import's verdict: the job is IMPORTED
// whatever happens here. Its state is on the job (annotation_state):
//   pending (annotation_attempts so far, next try at annotation_next_at)
//     --written--> done
//     --failed--> pending again after a backoff (jobs.retry_initial..retry_max), or
//                 given_up once omero.annotation_retry has passed since the import or
//                 when OMERO refuses for good (no such user, not an administrator).
// Every failure is a warning log line, a job_history row and a metric. A restart resumes
// pending jobs; a retry reads what is there first, so nothing is written twice.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>

#include "biomero_reactor/pipeline.hpp"

namespace biomero_reactor {

// Annotates the imported jobs that are due (a few at a time, claimed so another reactor
// does not take them meanwhile). Returns how many it tried.
boost::asio::awaitable<int> annotate_due_jobs(PipelineContext& ctx);

// Imported jobs whose annotations were never tried yet: `run --once` waits for them.
boost::asio::awaitable<std::int64_t> annotations_untried(pg::Pool& pool);

}  // namespace biomero_reactor
