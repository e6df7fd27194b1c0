// BIOMERO.importer as far as OMERO sees it, for the OMERO.web stand-in: a thread that
// turns each `Import Pending` order into images in its destination dataset, each carrying
// the order's uuid in a biomero.import map annotation (key UUID) owned by the user, and
// only then appends `Import Completed` — the order the reactor relies on, since it looks
// the images up by that uuid as soon as it sees the order completed. Used by the OMERO
// integration tests and by the omero-web-standin executable (the demo).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "omero_web_standin.hpp"
#include "test_support.hpp"

namespace biomero_reactor::test {

class StandinImporter {
 public:
  using Log = std::function<void(const std::string&)>;

  // `owner` owns the images' uuid annotations; `log`, when given, hears each order and error.
  StandinImporter(std::string conninfo, OmeroWebStandin& web, std::int64_t owner, Log log = {});
  StandinImporter(TestDb& db, OmeroWebStandin& web, std::int64_t owner)
      : StandinImporter(db.conninfo(), web, owner) {}
  ~StandinImporter();
  StandinImporter(const StandinImporter&) = delete;
  StandinImporter& operator=(const StandinImporter&) = delete;

 private:
  void run();
  void import_pending();

  std::string conninfo_;
  OmeroWebStandin& web_;
  std::int64_t owner_;
  Log log_;
  std::string last_error_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace biomero_reactor::test
