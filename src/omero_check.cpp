#include "biomero_reactor/omero_check.hpp"

#include <algorithm>
#include <exception>
#include <functional>
#include <optional>
#include <random>
#include <iostream>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "biomero_reactor/omero_step.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

constexpr std::string_view check_namespace = "biomero-reactor/omero-check";

// What to do about a failed step, by where it failed and how.
std::string fix_for(std::string_view step, const OmeroWebError& e) {
  if (e.status() == 0) {
    return "check omero.web.url (scheme, host, port, prefix), that OMERO.web is running and reachable from this "
           "host, and for https omero.web.ca_file / omero.web.tls_verify";
  }
  if (step == "su" && e.status() == 500 && std::string_view(e.what()).starts_with("no OMERO user named")) {
    return "the test user does not exist in OMERO: pass an existing omeName";
  }
  if (e.status() >= 500) return "OMERO.web or OMERO failed; see OMERO.web's log and try again";
  if (step == "servers") return "omero.web.url does not point at OMERO.web's root (check omero.web.prefix)";
  if (step == "login" && e.status() == 403) {
    return "check omero.web.username and the password file; if the message says CSRF or Referer, OMERO.web behind "
           "HTTPS must see the request as secure with a matching Host (proxy headers, CSRF_TRUSTED_ORIGINS)";
  }
  if (step == "login") return "omero.web.username must be an OMERO administrator";
  if (step == "su" && e.status() == 404) {
    return "omero.web.username is not an OMERO administrator (su answers 404 to others)";
  }
  if (step == "su") return "the administrator may not act for this user (restricted admin without Sudo?)";
  return "the user must be able to create datasets and annotate them in their default group";
}

}  // namespace

asio::awaitable<bool> omero_check(OmeroWebSettings settings, std::string test_user, std::ostream& out) {
  std::optional<OmeroWebSession> session;
  try {
    session.emplace(settings);
  } catch (const std::exception& e) {
    out << "[FAILED] configuration: " << e.what() << "\n  fix: set omero.web.url to OMERO.web's base URL\n";
    co_return false;
  }
  std::int64_t dataset = 0;
  std::string step;
  std::exception_ptr failure;
  const auto ok = [&](const std::string& text) { out << "[ok] " << text << "\n" << std::flush; };
  try {
    step = "servers";
    const std::vector<int> servers = co_await session->server_ids();
    if (std::find(servers.begin(), servers.end(), settings.server_id) == servers.end()) {
      throw OmeroWebError(OmeroWebError::Kind::permanent, 400,
                          "OMERO.web has no server " + std::to_string(settings.server_id));
    }
    ok("OMERO.web at " + settings.url + " serves OMERO server " + std::to_string(settings.server_id));
    step = "login";
    co_await session->login();
    ok("logged in as administrator " + settings.username);
    step = "su";
    co_await session->su(test_user);
    ok("su to " + test_user + " (user id " + std::to_string(session->user_id()) + ", group " +
       std::to_string(session->group_id()) + ")");
    step = "create";
    std::random_device random;
    const std::string name = "biomero-reactor omero-check " + std::to_string(random());
    dataset = co_await session->create_container(ContainerKind::dataset, session->group_id(), name,
                                                 "Scratch dataset of biomero-reactor omero-check; safe to delete");
    ok("created scratch dataset " + std::to_string(dataset) + " as " + test_user);
    step = "annotate";
    MapAnnotation written;
    written.ns = check_namespace;
    written.values.emplace_back("Check", name);  // (no braced lists of literals: g++ 12 rejects them in coroutines)
    written.values.emplace_back("Value", "None");
    const std::string object_type = "dataset";
    const std::vector<std::int64_t> scratch{dataset};
    const std::vector<std::int64_t> ids = co_await session->annotate_map(object_type, scratch, written);
    const std::int64_t annotation = ids.front();
    ok("wrote map annotation " + std::to_string(annotation) + " in " + written.ns);
    step = "read back";
    const std::vector<LinkedMapAnnotation> found = co_await session->map_annotations(object_type, scratch, written.ns);
    const bool same =
        found.size() == 1 && found.front().values == written.values && found.front().owner_id == session->user_id();
    if (!same) {
      throw OmeroWebError(OmeroWebError::Kind::permanent, 200,
                          "read back " + std::to_string(found.size()) +
                              " annotation(s), not the one written with the same keys, values and owner");
    }
    ok("read it back: same keys and values, owned by " + test_user);
    step = "delete";
    co_await session->delete_map_annotation(annotation);
    co_await session->delete_container(ContainerKind::dataset, dataset);
    ok("deleted the annotation and the scratch dataset");
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const OmeroWebError& e) {
      out << "[FAILED] " << step << ": " << e.what() << "\n  fix: " << fix_for(step, e) << "\n";
    } catch (const std::exception& e) {
      out << "[FAILED] " << step << ": " << e.what() << "\n";
    }
    if (dataset != 0) out << "  left behind: scratch dataset " << dataset << " (delete it by hand)\n";
  }
  co_await session->logout();
  if (!failure) ok("logged out");
  co_return !failure;
}

int omero_check_command(const Config& cfg, const std::string& test_user) {
  if (cfg.omero.web.url.empty()) {
    std::cerr << "biomero-reactor omero-check: omero.web.url is not set in the config\n";
    return 78;
  }
  OmeroWebSettings settings;
  try {
    settings = omero_web_settings(cfg, process_environment());
  } catch (const ConfigError& e) {
    std::cerr << "biomero-reactor omero-check: " << e.what() << "\n";
    return 78;
  }
  asio::io_context io;
  bool passed = false;
  asio::co_spawn(io, omero_check(std::move(settings), test_user, std::cout), [&](std::exception_ptr e, bool ok) {
    passed = !e && ok;
  });
  io.run();
  return passed ? 0 : 1;
}

}  // namespace biomero_reactor
