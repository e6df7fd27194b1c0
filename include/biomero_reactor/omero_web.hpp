// A session with OMERO.web as its own browser would hold one: a cookie jar, Django's
// CSRF token (header plus Referer on every unsafe request), `X-Requested-With` so
// logged-out calls answer 403 rather than redirect. It logs in as an OMERO
// administrator, may `su` to a workflow's owner (after which everything it creates is
// the user's), and speaks the few JSON API and webclient endpoints the reactor needs.
// A session that expires (su sessions end on an absolute timer) is renewed once per
// call by logging in and su-ing again. The password goes into the login form only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/omero_annotations.hpp"
#include "biomero_reactor/omero_http.hpp"

namespace biomero_reactor {

struct OmeroWebSettings {
  std::string url;  // OMERO.web base URL, with any omero.web.prefix
  int server_id = 1;
  std::string username;  // an OMERO administrator
  std::string password;
  std::filesystem::path ca_file;
  bool tls_verify = true;
  std::chrono::milliseconds timeout{30000};
};

enum class ContainerKind { dataset, screen };

// "dataset"/"screen", and the kind of object each holds: "image"/"plate".
[[nodiscard]] std::string_view container_type(ContainerKind kind);
[[nodiscard]] std::string_view child_type(ContainerKind kind);

struct OmeroObject {
  std::int64_t id = 0;
  std::string name;
  std::string description;
  std::int64_t owner_id = 0;
  std::int64_t group_id = 0;
};

// One map annotation as linked to one object (webclient/api/annotations gives one entry
// per link).
struct LinkedMapAnnotation {
  std::int64_t id = 0;
  std::string ns;
  std::int64_t owner_id = 0;
  std::int64_t parent_id = 0;
  KeyValues values;
};

// One file annotation on one object: its file's name and the annotation's owner.
struct LinkedFileAnnotation {
  std::int64_t id = 0;
  std::string file_name;
  std::int64_t owner_id = 0;
};

class OmeroWebSession {
 public:
  explicit OmeroWebSession(OmeroWebSettings settings);

  // Token, then the administrator's login. Permanent error for bad credentials, a
  // refused CSRF check or a non-administrator account.
  boost::asio::awaitable<void> login();
  // The session becomes the user's (by omeName). Permanent error when OMERO.web refuses
  // (404: not an administrator; unknown user; 403: not allowed to sudo).
  boost::asio::awaitable<void> su(std::string ome_name);
  // Ends the OMERO session too; never throws.
  boost::asio::awaitable<void> logout();

  [[nodiscard]] std::int64_t user_id() const noexcept { return user_id_; }  // of whoever the session is now
  [[nodiscard]] const std::string& user_name() const noexcept { return user_name_; }
  [[nodiscard]] std::int64_t group_id() const noexcept { return group_id_; }  // the session's current group
  [[nodiscard]] std::uint64_t requests_sent() const noexcept { return http_.requests_sent(); }

  // The OMERO servers OMERO.web is configured for (GET /api/v0/servers/, no login).
  boost::asio::awaitable<std::vector<int>> server_ids();
  // Permanent error "no OMERO user with id N" when OMERO says so.
  boost::asio::awaitable<std::string> experimenter_name(std::int64_t user_id);
  boost::asio::awaitable<std::string> group_name(std::int64_t group_id);

  // Every page of the group's containers owned by `owner_id`, in OMERO's order.
  boost::asio::awaitable<std::vector<OmeroObject>> containers(ContainerKind kind, std::int64_t group_id,
                                                              std::int64_t owner_id);
  boost::asio::awaitable<std::int64_t> create_container(ContainerKind kind, std::int64_t group_id, std::string name,
                                                        std::string description);
  boost::asio::awaitable<void> delete_container(ContainerKind kind, std::int64_t id);
  // Every page of the container's images (dataset) or plates (screen).
  boost::asio::awaitable<std::vector<OmeroObject>> children(ContainerKind kind, std::int64_t container_id);

  // Map annotations on the objects of `object_type` ("image", "plate", "dataset"), in
  // `ns` unless it is empty. Asks in slices of ids short enough for a request line.
  boost::asio::awaitable<std::vector<LinkedMapAnnotation>> map_annotations(std::string object_type,
                                                                           std::vector<std::int64_t> ids,
                                                                           std::string ns);
  // One new annotation per object, all in one request: at most 500 objects, all of one
  // group. Returns the new annotation ids; permanent error when fewer come back than
  // objects were sent (OMERO.web drops ids it cannot see without saying so).
  boost::asio::awaitable<std::vector<std::int64_t>> annotate_map(std::string object_type, std::vector<std::int64_t> ids,
                                                                 MapAnnotation annotation);
  boost::asio::awaitable<void> delete_map_annotation(std::int64_t annotation_id);
  // The bytes uploaded as a FileAnnotation on one object; OMERO.web sets no namespace
  // or description on it. Returns the file annotation id.
  boost::asio::awaitable<std::int64_t> annotate_file(std::string object_type, std::int64_t id, std::string file_name,
                                                     std::string content);
  // The file annotations on one object (webclient/api/annotations, type=file).
  boost::asio::awaitable<std::vector<LinkedFileAnnotation>> file_annotations(std::string object_type, std::int64_t id);
  // Renames one image as the session's user (webclient's in-place name edit,
  // action/savename). Permanent error for an unknown or invisible image (404), a name
  // the form refuses, or a 403; transient for a 5xx.
  boost::asio::awaitable<void> rename_image(std::int64_t id, std::string name);

  static constexpr std::size_t max_objects_per_write = 500;

 private:
  struct Form;
  boost::asio::awaitable<HttpResponse> call(HttpRequest request, bool renew);
  boost::asio::awaitable<HttpResponse> get(std::string path);
  boost::asio::awaitable<HttpResponse> post(std::string path, std::string body, std::string content_type);
  boost::asio::awaitable<void> renew();
  [[nodiscard]] OmeroWebError error(const HttpResponse& response, const std::string& what) const;
  [[nodiscard]] std::string redact(std::string text) const;

  OmeroWebSettings settings_;
  HttpClient http_;
  std::map<std::string, std::string> cookies_;
  std::string csrf_token_;
  bool logged_in_ = false;
  std::string su_user_;  // the user su-ed to, redone on renewal
  std::int64_t user_id_ = 0;
  std::int64_t group_id_ = 0;
  std::string user_name_;
};

}  // namespace biomero_reactor
