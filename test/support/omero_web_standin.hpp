// An in-process stand-in for OMERO.web: a Boost.Beast server on 127.0.0.1 (HTTP, or
// HTTPS with a throw-away self-signed certificate) running on its own thread, holding a
// small OMERO model (users, groups, datasets/screens, images/plates, map and file
// annotations). It serves exactly the endpoints the reactor uses, with the rules read
// from omero-web's views: Django's CSRF check (masked tokens, Origin, Referer when
// secure), Django sessions joined to OMERO sessions, admin-only su (404 otherwise, 500
// for an unknown user) that kills the admin's session and gives the user one with an
// absolute lifetime, JSON API paging (default 200, max 500, lower(name) order),
// annotate_map's quirks (ids from the query string when there is one, invisible ids
// dropped, the group of the first object, `duplicate`), ownership by the session user.
// Faults can be injected per request, and every request is counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace biomero_reactor::test {

class OmeroWebStandin {
 public:
  struct Options {
    bool tls = false;
    std::string prefix;                              // omero.web.prefix, e.g. "/omero"
    std::chrono::milliseconds su_lifetime{3600000};  // absolute, as suConn's ttl is
    unsigned short port = 0;                         // on 127.0.0.1; 0: a free one
  };
  using KeyValues = std::vector<std::pair<std::string, std::string>>;

  struct Object {
    std::string type;  // "dataset", "screen", "image", "plate"
    std::int64_t id = 0;
    std::string name;
    std::string description;
    std::int64_t owner = 0;
    std::int64_t group = 0;
    std::int64_t parent = 0;  // the dataset/screen of an image/plate
  };
  struct Annotation {
    std::int64_t id = 0;
    std::string kind;  // "map" or "file"
    std::string ns;
    KeyValues values;
    std::string file_name, file_content;
    std::int64_t owner = 0;
    std::int64_t group = 0;
    std::vector<std::pair<std::string, std::int64_t>> links;  // (object type, id)
    std::int64_t link_owner = 0;
  };

  enum class Fault {
    status_503,             // answered 503 before the view runs
    status_404,             // answered 404 before the view runs: a route this OMERO.web lacks
    status_502_after,       // the view runs (and commits), then a proxy answers 502
    hang,                   // never answered
    drop,                   // connection closed without an answer
    expire_sessions_after,  // answered normally, then every OMERO session ends
    kill_after              // only through kill_after(): the view runs, then a process dies
  };

  OmeroWebStandin();
  explicit OmeroWebStandin(Options options);
  ~OmeroWebStandin();
  OmeroWebStandin(const OmeroWebStandin&) = delete;
  OmeroWebStandin& operator=(const OmeroWebStandin&) = delete;

  [[nodiscard]] std::string url() const;                // base URL, with the prefix
  [[nodiscard]] std::filesystem::path ca_file() const;  // TLS: the certificate to trust

  // Seeding.
  std::int64_t add_group(const std::string& name);
  std::int64_t add_user(const std::string& ome_name, const std::string& password, bool admin,
                        const std::vector<std::int64_t>& groups);
  std::int64_t add_container(const std::string& type, const std::string& name, std::int64_t owner, std::int64_t group,
                             const std::string& description = "");
  std::int64_t add_child(const std::string& type, std::int64_t container, const std::string& name);
  std::int64_t add_map_annotation(const std::string& object_type, std::int64_t object_id, const std::string& ns,
                                  const KeyValues& values, std::int64_t owner);

  // Reading the model back.
  [[nodiscard]] std::vector<Object> objects(const std::string& type) const;
  [[nodiscard]] std::vector<Annotation> annotations_on(const std::string& object_type, std::int64_t id) const;
  [[nodiscard]] std::vector<Annotation> annotations() const;
  [[nodiscard]] int live_omero_sessions() const;

  // Faults: the next `count` requests whose method and path (without prefix and query)
  // match, after `skip` matching ones pass untouched.
  void inject(const std::string& method, const std::string& path_prefix, Fault fault, int count = 1, int skip = 0);
  // The next request matching (after `skip` that pass) runs its view, which commits;
  // then `pid` gets SIGKILL and the request is never answered: a client that dies
  // between two writes, at a point it cannot choose itself.
  void kill_after(const std::string& method, const std::string& path_prefix, int pid, int skip = 0);
  void expire_sessions();
  // Requests received whose method matches ("" = any) and whose path starts with the
  // prefix (without the OMERO.web prefix).
  [[nodiscard]] std::size_t requests(const std::string& method, const std::string& path_prefix) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace biomero_reactor::test
