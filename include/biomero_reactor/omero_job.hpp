// What the pipeline asks of OMERO.web, each as one self-contained call that logs in as
// the administrator, su-s to the workflow's owner, does its work and logs out:
// OMERO names for the ids the event store holds (cached with a TTL), the destination
// container found or created by name, and the workflow annotations on a job's imported
// images and the label images' names, written so that running the call again after a
// crash or a 5xx adds only what is missing. Errors are OmeroWebErrors: transient ones are worth a later retry.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "biomero_reactor/omero_annotations.hpp"
#include "biomero_reactor/omero_web.hpp"

namespace biomero_reactor {

inline constexpr std::string_view default_importer_namespace = "biomero.import";

struct OmeroNames {
  std::string user;   // omeName
  std::string group;  // group name
};

// Names by id, remembered for `ttl`; OMERO.web is asked only on a miss.
class OmeroNameCache {
 public:
  explicit OmeroNameCache(std::chrono::seconds ttl = std::chrono::minutes(10)) : ttl_(ttl) {}
  boost::asio::awaitable<OmeroNames> names(OmeroWebSettings settings, std::int64_t user_id, std::int64_t group_id);

 private:
  struct Entry {
    std::string name;
    std::chrono::steady_clock::time_point expires;
  };
  std::chrono::seconds ttl_;
  std::map<std::int64_t, Entry> users_;
  std::map<std::int64_t, Entry> groups_;
};

// The user's Dataset/Screen in the group: first one named `name` and described
// `description` (what an earlier attempt of this job may have created before a crash);
// unless `allow_duplicate`, any one named `name`; otherwise a new one created as the
// user. Ties go to the lowest id. Returns its id.
boost::asio::awaitable<std::int64_t> resolve_destination_by_name(OmeroWebSettings settings, std::string user_name,
                                                                 ContainerKind kind, std::int64_t group_id,
                                                                 std::string name, std::string description,
                                                                 bool allow_duplicate);

// "Images from SLURM job <job> (Workflow <wf>)", as BIOMERO describes the containers it makes.
[[nodiscard]] std::string destination_description(std::string_view job_id, std::string_view workflow_id);

struct OmeroDestination {
  ContainerKind kind = ContainerKind::dataset;
  std::int64_t id = 0;
};

struct AnnotateJobOutcome {
  std::size_t objects = 0;              // images (plates) annotated or found already annotated
  bool all_of_the_container = false;    // no object carried an order uuid: BIOMERO's fallback
  std::size_t annotations_written = 0;  // one per object per annotation set
  std::size_t annotations_present = 0;  // found from an earlier attempt, not written again
  std::size_t write_requests = 0;
};

// Writes `annotations` (in order) on the destination's objects that carry one of the
// order uuids in a map annotation (asked in `importer_namespace`, then in any), or on all
// of them when none does. Before writing, reads what the objects carry: an annotation
// in the same namespace with the same Workflow_ID/Task_ID/Job_ID values, owned by the
// user, counts as written. One annotate_map request per namespace per group per 500
// objects.
boost::asio::awaitable<AnnotateJobOutcome> annotate_job(
    OmeroWebSettings settings, std::string user_name, OmeroDestination destination,
    std::vector<std::string> order_uuids, std::vector<MapAnnotation> annotations,
    std::string importer_namespace = std::string(default_importer_namespace));

// A labels order of the job: its uuid and its files, in the order the importer got them.
struct LabelOrder {
  std::string uuid;
  std::vector<std::string> files;
};

struct RenameLabelsOutcome {
  std::size_t images = 0;   // images carrying one of the orders' uuids
  std::size_t renamed = 0;  // renamed now (the others already had their name)
};

// BIOMERO's renaming of imported label images to "<parent> [<label>]" (label_names.hpp)
// in a dataset destination, as the user: the images carrying each order's uuid (asked in
// `importer_namespace`, then in any) get the names `label_renames` gives, one savename
// request each. Images already named so are left alone, so a retry renames nothing twice.
boost::asio::awaitable<RenameLabelsOutcome> rename_label_images(
    OmeroWebSettings settings, std::string user_name, OmeroDestination destination, std::vector<LabelOrder> orders,
    std::string importer_namespace = std::string(default_importer_namespace));

// `content` uploaded as a FileAnnotation on the destination container, as the user
// (OMERO.web's annotate_file: no namespace, no description, a copy, not in place).
boost::asio::awaitable<std::int64_t> attach_file(OmeroWebSettings settings, std::string user_name,
                                                 OmeroDestination destination, std::string file_name,
                                                 std::string content);

}  // namespace biomero_reactor
