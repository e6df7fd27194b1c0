// deploy/monitoring against a running reactor: its /metrics passes `promtool check
// metrics`, and every metric name the alert rules and the Grafana dashboard use is one the
// daemon exports (a renamed metric breaks this test, not an operator's alert).
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <cstdio>
#include <regex>
#include <set>
#include <sstream>

#include "biomero_reactor/http_endpoint.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

const fs::path monitoring = fs::path(BIOMERO_TEST_FIXTURES).parent_path().parent_path() / "deploy" / "monitoring";

// Sample names (with _bucket, _sum, _count) and family names (# TYPE) of a scrape.
std::set<std::string> exported_names(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      out.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (!line.empty() && line[0] != '#') {
      out.insert(line.substr(0, line.find_first_of("{ ")));
    }
  }
  return out;
}

// The metric names in a text (PromQL expressions, annotations): the daemon's prefixes.
std::set<std::string> names_in(const std::string& text) {
  static const std::regex name(R"(\b(biomero_reactor_|process_)[a-zA-Z0-9_]*)");
  std::set<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), name), end; it != end; ++it) out.insert(it->str());
  return out;
}

void collect_exprs(const boost::json::value& v, std::string& out) {
  if (v.is_object()) {
    for (const auto& kv : v.as_object()) {
      if (kv.key() == "expr" && kv.value().is_string()) out += std::string(kv.value().as_string()) + "\n";
      collect_exprs(kv.value(), out);
    }
  } else if (v.is_array()) {
    for (const auto& e : v.as_array()) collect_exprs(e, out);
  }
}

// promtool's path, or empty when it is not installed.
std::string promtool() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    const fs::path p = fs::path(dir) / "promtool";
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

// Exit status and output of `command`.
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  BOOST_REQUIRE(p != nullptr);
  char buf[4096];
  while (const auto n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(monitoring_test)

BOOST_AUTO_TEST_CASE(rules_and_dashboard_use_only_exported_names_and_the_scrape_lints_clean) {
  TestDb db;
  TempTree tree;
  const std::string listen = "127.0.0.1:" + free_local_port();
  fs::create_directories(tree.path() / "data");
  const auto cfg = write_reactor_config(tree.path(), db.conninfo(),
                                        pipeline_yaml(tree.path()) + "http:\n  listen: \"" + listen + "\"\n");
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return http_status(listen, "/readyz") == 200U; }), reactor->output());
  const std::string scrape = http_get(listen, "/metrics", std::chrono::seconds(10)).body;
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);

  const std::string tool = promtool();
  if (tool.empty()) {
    BOOST_WARN_MESSAGE(false,
                       "SKIPPED `promtool check metrics`: promtool is not installed (Debian package "
                       "prometheus; deploy/install-and-build.sh installs it)");
  } else {
    const fs::path file = tree.write("metrics.txt", scrape);
    const auto checked = run(tool + " check metrics < " + file.string());
    BOOST_TEST(checked.first == 0, "promtool check metrics:\n" << checked.second);
    BOOST_TEST(checked.second.empty(), "promtool check metrics:\n" << checked.second);
  }

  const std::set<std::string> exported = exported_names(scrape);
  const std::set<std::string> in_rules = names_in(read_file(monitoring / "biomero-reactor.rules.yml"));
  std::string exprs;
  collect_exprs(boost::json::parse(read_file(monitoring / "biomero-reactor.dashboard.json")), exprs);
  const std::set<std::string> in_dashboard = names_in(exprs);
  BOOST_TEST(in_rules.size() >= 6U);
  BOOST_TEST(in_dashboard.size() >= 20U);
  for (const auto& name : in_rules) BOOST_TEST(exported.count(name) == 1U, "rules use " << name);
  for (const auto& name : in_dashboard) BOOST_TEST(exported.count(name) == 1U, "dashboard uses " << name);
}

BOOST_AUTO_TEST_SUITE_END()
