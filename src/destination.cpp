#include "biomero_reactor/destination.hpp"

#include <vector>

#include "biomero_reactor/errors.hpp"

namespace biomero_reactor {

Names resolve_names(const StorageSettings& storage, const Config& cfg, const Workflow& wf) {
  auto group = group_name_for(storage, cfg, wf.group_id);
  if (!group) {
    throw PermanentError("unknown OMERO group id " + std::to_string(wf.group_id) +
                         ": add it to names.groups in the reactor's config or to the group mappings "
                         "(biomero-config.json group_mappings)");
  }
  auto user = user_name_for(cfg, wf.user_id);
  if (!user) {
    throw PermanentError("unknown OMERO user id " + std::to_string(wf.user_id) +
                         ": add it to names.users in the reactor's config");
  }
  return {*group, *user};
}

std::optional<std::string> id_param(const boost::json::object& params, std::string_view key) {
  const auto* v = params.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64() && v->get_int64() > 0) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (v->is_string()) {
    std::string s(v->get_string());
    if (!s.empty() && s.size() < 20 && s.find_first_not_of("0123456789") == std::string::npos &&
        s.find_first_not_of('0') != std::string::npos) {
      return s;
    }
  }
  if (v->is_array() && v->get_array().size() == 1) {
    const boost::json::object one{{key, v->get_array()[0]}};
    return id_param(one, key);
  }
  return std::nullopt;
}

std::optional<Destination> explicit_destination(const Workflow& wf, const std::optional<Uuid>& analysis_task_id) {
  std::vector<const Task*> tasks;
  for (const auto& t : wf.tasks) {
    if (analysis_task_id && t.id == *analysis_task_id) tasks.push_back(&t);
  }
  for (const auto& t : wf.tasks) tasks.push_back(&t);
  for (const Task* t : tasks) {
    if (auto id = id_param(t->params, "Dataset_ID")) return Destination{"Dataset", *id};
    if (auto id = id_param(t->params, "Screen_ID")) return Destination{"Screen", *id};
  }
  return std::nullopt;
}

Destination resolve_destination(const Config& cfg, const Workflow& wf, const std::optional<Uuid>& analysis_task_id,
                                const std::string& group) {
  if (auto d = explicit_destination(wf, analysis_task_id)) return *d;
  if (auto it = cfg.destination.groups.find(group); it != cfg.destination.groups.end() && !it->second.id.empty()) {
    return it->second;
  }
  if (!cfg.destination.id.empty()) return {cfg.destination.type, cfg.destination.id};
  throw PermanentError(
      "no import destination: the workflow has no Dataset_ID or Screen_ID parameter and the config "
      "sets neither destination.groups." +
      group + ".id nor destination.id");
}

}  // namespace biomero_reactor
