// The provenance file `metadata.csv` placed beside imported results: header-
// less `key,value` rows describing the job, its workflow and every task,
// with the keys BIOMERO's own import scripts write. BIOMERO.importer turns
// them into `csv_*` map annotations on the images.
#pragma once

#include <string>
#include <string_view>

#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

// Rows end with "\n"; a field holding a comma, a quote, CR or LF is quoted
// (RFC 4180, inner quotes doubled). Task input data and non-string params
// are compact JSON. An empty workflow version reads "Unknown", as in BIOMERO.
[[nodiscard]] std::string metadata_csv(const Workflow& workflow, std::string_view job_id, std::string_view user_name,
                                       std::string_view group_name);

}  // namespace biomero_reactor
