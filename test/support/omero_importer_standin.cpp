#include "omero_importer_standin.hpp"

#include <boost/json/parse.hpp>
#include <chrono>

namespace biomero_reactor::test {

StandinImporter::StandinImporter(std::string conninfo, OmeroWebStandin& web, std::int64_t owner, Log log)
    : conninfo_(std::move(conninfo)), web_(web), owner_(owner), log_(std::move(log)), thread_([this] { run(); }) {}

StandinImporter::~StandinImporter() {
  stop_ = true;
  thread_.join();
}

void StandinImporter::run() {
  if (log_) log_("watching public.imports");
  while (!stop_) {
    try {
      import_pending();
      last_error_.clear();
    } catch (const std::exception& e) {
      // Usually the table does not exist yet; said once, not every poll.
      if (log_ && last_error_ != e.what()) log_(std::string("database error: ") + e.what());
      last_error_ = e.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void StandinImporter::import_pending() {
  // Every order not yet answered, whatever order the reactor's transactions committed in.
  auto r = query_on(conninfo_,
                    "SELECT id, uuid::text, files, destination_id FROM public.imports p WHERE stage = 'Import Pending' "
                    "AND NOT EXISTS (SELECT 1 FROM public.imports d WHERE d.uuid = p.uuid AND d.stage <> "
                    "'Import Pending') ORDER BY id");
  for (int i = 0; i < r.rows(); ++i) {
    const std::int64_t id = r.int64(i, 0);
    const std::string uuid(r.text(i, 1));
    const auto files = boost::json::parse(r.text(i, 2)).as_array();
    const std::string dataset(r.text(i, 3));
    for (const auto& f : files) {
      const auto image = web_.add_child("image", std::stoll(dataset), fs::path(std::string(f.as_string())).filename());
      web_.add_map_annotation("image", image, "biomero.import", {{"UUID", uuid}}, owner_);
    }
    query_on(conninfo_,
             "INSERT INTO public.imports (group_name, user_name, destination_id, destination_type, stage, uuid, "
             "\"timestamp\", files, file_names, description) SELECT group_name, user_name, destination_id, "
             "destination_type, 'Import Completed', uuid, clock_timestamp(), files, file_names, 'imported' "
             "FROM public.imports WHERE id = $1",
             pg::params(id));
    if (log_) {
      log_("Import Completed " + uuid + ": " + std::to_string(files.size()) + " images into Dataset " + dataset);
    }
  }
}

}  // namespace biomero_reactor::test
