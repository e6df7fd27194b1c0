#include "biomero_reactor/omero_job.hpp"

#include <algorithm>
#include <exception>
#include <set>

#include "biomero_reactor/label_names.hpp"
#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

// Keys that tell one annotation set from another of the same namespace: the rest
// (Modified_On, Status) may move on between two attempts of the same job.
constexpr std::string_view identity_keys[] = {"Workflow_ID", "Task_ID", "Job_ID"};

std::string value_of(const KeyValues& values, std::string_view key) {
  for (const auto& [k, v] : values) {
    if (k == key) return v;
  }
  return {};
}

bool same_set(const LinkedMapAnnotation& existing, const MapAnnotation& wanted, std::int64_t owner_id) {
  if (existing.ns != wanted.ns || existing.owner_id != owner_id) return false;
  for (const std::string_view key : identity_keys) {
    if (value_of(existing.values, key) != value_of(wanted.values, key)) return false;
  }
  return true;
}

// Runs `work` on a session logged in as the administrator and su-ed to the user, and
// logs out whatever happened (a coroutine cannot co_await inside a catch block).
template <typename Result, typename Work>
asio::awaitable<Result> as_user(OmeroWebSettings settings, std::string user_name, Work work) {
  OmeroWebSession session(std::move(settings));
  std::exception_ptr failure;
  std::optional<Result> result;
  try {
    co_await session.login();
    co_await session.su(user_name);
    result.emplace(co_await work(session));
  } catch (...) {
    failure = std::current_exception();
  }
  co_await session.logout();
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*result);
}

// The objects carrying each order uuid as a value of a map annotation: in the
// importer's namespace, or, when none does there, in any namespace (the importer's
// namespace is configurable on its side).
asio::awaitable<std::map<std::string, std::set<std::int64_t>>> objects_of_orders(
    OmeroWebSession& session, const std::string& type, const std::vector<std::int64_t>& ids,
    const std::set<std::string>& uuids, const std::string& importer_namespace) {
  std::map<std::string, std::set<std::int64_t>> out;
  const auto collect = [&](const std::vector<LinkedMapAnnotation>& found) {
    for (const LinkedMapAnnotation& a : found) {
      for (const auto& kv : a.values) {
        if (uuids.contains(kv.second)) out[kv.second].insert(a.parent_id);
      }
    }
  };
  if (ids.empty()) co_return out;
  collect(co_await session.map_annotations(type, ids, importer_namespace));
  if (out.empty()) collect(co_await session.map_annotations(type, ids, std::string()));
  co_return out;
}

}  // namespace

std::string destination_description(std::string_view job_id, std::string_view workflow_id) {
  return "Images from SLURM job " + std::string(job_id) + " (Workflow " + std::string(workflow_id) + ")";
}

asio::awaitable<OmeroNames> OmeroNameCache::names(OmeroWebSettings settings, std::int64_t user_id,
                                                  std::int64_t group_id) {
  const auto now = std::chrono::steady_clock::now();
  const auto user = users_.find(user_id);
  const auto group = groups_.find(group_id);
  const bool user_fresh = user != users_.end() && user->second.expires > now;
  const bool group_fresh = group != groups_.end() && group->second.expires > now;
  if (user_fresh && group_fresh) co_return OmeroNames{user->second.name, group->second.name};

  OmeroWebSession session(std::move(settings));
  std::exception_ptr failure;
  OmeroNames out;
  try {
    co_await session.login();
    if (user_fresh) {
      out.user = user->second.name;
    } else {
      out.user = co_await session.experimenter_name(user_id);
    }
    if (group_fresh) {
      out.group = group->second.name;
    } else {
      out.group = co_await session.group_name(group_id);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  co_await session.logout();
  if (failure) std::rethrow_exception(failure);
  const auto expires = std::chrono::steady_clock::now() + ttl_;
  users_[user_id] = {out.user, expires};
  groups_[group_id] = {out.group, expires};
  co_return out;
}

asio::awaitable<std::int64_t> resolve_destination_by_name(OmeroWebSettings settings, std::string user_name,
                                                          ContainerKind kind, std::int64_t group_id, std::string name,
                                                          std::string description, bool allow_duplicate) {
  auto work = [&](OmeroWebSession& session) -> asio::awaitable<std::int64_t> {
    const std::vector<OmeroObject> found = co_await session.containers(kind, group_id, session.user_id());
    std::int64_t by_description = 0;
    std::int64_t by_name = 0;
    for (const OmeroObject& c : found) {
      if (c.name != name) continue;
      if (c.description == description && (by_description == 0 || c.id < by_description)) by_description = c.id;
      if (by_name == 0 || c.id < by_name) by_name = c.id;
    }
    if (by_description != 0) co_return by_description;
    if (!allow_duplicate && by_name != 0) co_return by_name;
    const std::int64_t created = co_await session.create_container(kind, group_id, name, description);
    log::info(
        "OMERO container created",
        {{"type", std::string(container_type(kind))}, {"id", created}, {"name", name}, {"user", session.user_name()}});
    co_return created;
  };
  co_return co_await as_user<std::int64_t>(std::move(settings), std::move(user_name), work);
}

asio::awaitable<AnnotateJobOutcome> annotate_job(OmeroWebSettings settings, std::string user_name,
                                                 OmeroDestination destination, std::vector<std::string> order_uuids,
                                                 std::vector<MapAnnotation> annotations,
                                                 std::string importer_namespace) {
  auto work = [&](OmeroWebSession& session) -> asio::awaitable<AnnotateJobOutcome> {
    AnnotateJobOutcome outcome;
    const std::string type(child_type(destination.kind));
    const std::vector<OmeroObject> children = co_await session.children(destination.kind, destination.id);
    std::vector<std::int64_t> all_ids;
    all_ids.reserve(children.size());
    for (const OmeroObject& c : children) all_ids.push_back(c.id);

    const std::set<std::string> uuids(order_uuids.begin(), order_uuids.end());
    std::set<std::int64_t> targets;
    const std::string any_namespace;
    const auto collect = [&](const std::vector<LinkedMapAnnotation>& found) {
      for (const LinkedMapAnnotation& a : found) {
        for (const auto& kv : a.values) {
          if (uuids.contains(kv.second)) targets.insert(a.parent_id);
        }
      }
    };
    const std::vector<LinkedMapAnnotation> in_importer_ns =
        co_await session.map_annotations(type, all_ids, importer_namespace);
    collect(in_importer_ns);
    if (targets.empty() && !all_ids.empty()) {
      // The importer's namespace is configurable on its side: look in every namespace.
      const std::vector<LinkedMapAnnotation> in_any_ns = co_await session.map_annotations(type, all_ids, any_namespace);
      collect(in_any_ns);
    }
    if (targets.empty()) {
      outcome.all_of_the_container = true;
      targets.insert(all_ids.begin(), all_ids.end());
      log::warn("no imported object carries an order uuid: annotating every object of the destination, as BIOMERO does",
                {{"type", std::string(container_type(destination.kind))},
                 {"id", destination.id},
                 {"objects", static_cast<std::int64_t>(all_ids.size())}});
    }
    outcome.objects = targets.size();

    // Objects in OMERO's listing order, grouped by group: annotate_map writes into the
    // group of the first object it is given.
    std::map<std::int64_t, std::vector<std::int64_t>> by_group;
    for (const OmeroObject& c : children) {
      if (targets.contains(c.id)) by_group[c.group_id].push_back(c.id);
    }
    const std::vector<std::int64_t> target_ids(targets.begin(), targets.end());
    const std::vector<LinkedMapAnnotation> existing = co_await session.map_annotations(type, target_ids, any_namespace);
    std::map<std::int64_t, std::vector<const LinkedMapAnnotation*>> existing_by_object;
    for (const LinkedMapAnnotation& a : existing) existing_by_object[a.parent_id].push_back(&a);

    for (const MapAnnotation& wanted : annotations) {
      for (const auto& [group_id, ids] : by_group) {
        std::vector<std::int64_t> missing;
        for (const std::int64_t id : ids) {
          const auto& present = existing_by_object[id];
          const bool done = std::any_of(present.begin(), present.end(), [&](const LinkedMapAnnotation* a) {
            return same_set(*a, wanted, session.user_id());
          });
          if (done) {
            ++outcome.annotations_present;
          } else {
            missing.push_back(id);
          }
        }
        for (std::size_t first = 0; first < missing.size(); first += OmeroWebSession::max_objects_per_write) {
          const std::size_t last = std::min(missing.size(), first + OmeroWebSession::max_objects_per_write);
          std::vector<std::int64_t> batch(missing.begin() + static_cast<std::ptrdiff_t>(first),
                                          missing.begin() + static_cast<std::ptrdiff_t>(last));
          const std::size_t count = batch.size();
          ++outcome.write_requests;
          const std::vector<std::int64_t> written = co_await session.annotate_map(type, std::move(batch), wanted);
          (void)written;
          outcome.annotations_written += count;
        }
      }
    }
    log::info("OMERO annotations written", {{"type", std::string(container_type(destination.kind))},
                                            {"id", destination.id},
                                            {"objects", static_cast<std::int64_t>(outcome.objects)},
                                            {"written", static_cast<std::int64_t>(outcome.annotations_written)},
                                            {"present", static_cast<std::int64_t>(outcome.annotations_present)},
                                            {"requests", static_cast<std::int64_t>(outcome.write_requests)}});
    co_return outcome;
  };
  co_return co_await as_user<AnnotateJobOutcome>(std::move(settings), std::move(user_name), work);
}

asio::awaitable<RenameLabelsOutcome> rename_label_images(OmeroWebSettings settings, std::string user_name,
                                                        OmeroDestination destination, std::vector<LabelOrder> orders,
                                                        std::string importer_namespace) {
  RenameLabelsOutcome outcome;
  // Label images are images: a screen's plates have no label images to rename.
  if (orders.empty() || destination.kind != ContainerKind::dataset) co_return outcome;
  auto work = [&](OmeroWebSession& session) -> asio::awaitable<RenameLabelsOutcome> {
    const std::vector<OmeroObject> children = co_await session.children(destination.kind, destination.id);
    std::vector<std::int64_t> ids;
    std::map<std::int64_t, std::string> names;
    for (const OmeroObject& c : children) {
      ids.push_back(c.id);
      names[c.id] = c.name;
    }
    std::set<std::string> uuids;
    for (const LabelOrder& o : orders) uuids.insert(o.uuid);
    const auto carrying = co_await objects_of_orders(session, "image", ids, uuids, importer_namespace);
    for (const LabelOrder& o : orders) {
      const auto found = carrying.find(o.uuid);
      if (found == carrying.end()) continue;
      std::vector<NamedImage> images;
      for (const std::int64_t id : found->second) images.push_back({id, names[id]});
      outcome.images += images.size();
      for (const NamedImage& r : label_renames(o.files, images)) {
        co_await session.rename_image(r.id, r.name);
        ++outcome.renamed;
      }
    }
    if (outcome.renamed > 0) {
      log::info("OMERO label images renamed", {{"id", destination.id},
                                               {"images", static_cast<std::int64_t>(outcome.images)},
                                               {"renamed", static_cast<std::int64_t>(outcome.renamed)}});
    }
    co_return outcome;
  };
  co_return co_await as_user<RenameLabelsOutcome>(std::move(settings), std::move(user_name), work);
}

asio::awaitable<std::int64_t> attach_file(OmeroWebSettings settings, std::string user_name,
                                          OmeroDestination destination, std::string file_name, std::string content) {
  auto work = [&](OmeroWebSession& session) -> asio::awaitable<std::int64_t> {
    const std::string type(container_type(destination.kind));
    // A reactor that died after the upload and before recording it uploads again on
    // restart: the user's file of the same name already there is that upload.
    const std::vector<LinkedFileAnnotation> present = co_await session.file_annotations(type, destination.id);
    for (const LinkedFileAnnotation& a : present) {
      if (a.file_name == file_name && a.owner_id == session.user_id()) {
        log::info("OMERO file already attached", {{"type", type}, {"id", destination.id}, {"file", file_name}});
        co_return a.id;
      }
    }
    co_return co_await session.annotate_file(type, destination.id, file_name, content);
  };
  co_return co_await as_user<std::int64_t>(std::move(settings), std::move(user_name), work);
}

}  // namespace biomero_reactor
