#pragma once
// Who a job's results belong to and where they are imported: pure decisions over the
// decoded workflow and the configuration. A job that cannot be placed fails with an
// error naming what is missing and the setting that fixes it.
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/group_storage.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

struct Names {
  std::string group, user;  // OMERO group and user names (the importer's order carries them)
};

// Group name from the group mappings or names.groups, user name from names.users;
// PermanentError naming the setting when either is unknown.
[[nodiscard]] Names resolve_names(const StorageSettings& storage, const Config& cfg, const Workflow& wf);

// A positive OMERO id from a task parameter as BIOMERO scripts pass them (a number, a
// decimal string, or a one-element list of either); nullopt otherwise.
[[nodiscard]] std::optional<std::string> id_param(const boost::json::object& params, std::string_view key);

// The analysis task's (then any task's) Dataset_ID / Screen_ID, if any.
[[nodiscard]] std::optional<Destination> explicit_destination(const Workflow& wf,
                                                              const std::optional<Uuid>& analysis_task_id);

// explicit_destination, else destination.groups
// for the group, else destination.id; PermanentError when none is set.
[[nodiscard]] Destination resolve_destination(const Config& cfg, const Workflow& wf,
                                              const std::optional<Uuid>& analysis_task_id, const std::string& group);

}  // namespace biomero_reactor
