// omero-web-standin: the OMERO.web stand-in of the tests as a process, for the demo.
//   omero-web-standin --admin-password-file FILE [--port N] [--url-file FILE]
//       [--dump FILE] [--importer-db CONNINFO]
// Serves OMERO.web on 127.0.0.1 (port N, or a free one), seeded with the administrator
// `root` (password: the file's first line) and the user `alice` in the group `Demo`, with
// the ids BIOMERO's events carry in the demo (user 2, group 3). Prints its URL, and writes
// it to --url-file once it answers (so a script can wait for the file).
// --dump: FILE always holds the datasets, their images and every map annotation on them,
// rewritten (atomically) within 200 ms of a change; a script reads it whenever it likes.
// --importer-db: also plays BIOMERO.importer on that database, as the OMERO integration
// tests do (StandinImporter): pending orders become images in their dataset, carrying the
// order's uuid, then `Import Completed`. The DB-only importer (biomero-standin importer)
// must not run beside it: both would complete the same orders.
// SIGINT or SIGTERM stops it.
#include <pthread.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "omero_importer_standin.hpp"
#include "omero_web_standin.hpp"

using namespace biomero_reactor::test;

namespace {

// The ids the demo's stand-in BIOMERO writes into its events (SampleWorkflow's defaults)
// and its group mapping uses: seeded in this order, the stand-in's one id counter gives them.
constexpr std::int64_t demo_user_id = 2;
constexpr std::int64_t demo_group_id = 3;

struct Options {
  fs::path password_file;
  unsigned short port = 0;
  fs::path url_file;
  fs::path dump_file;
  std::string importer_db;
};

// Who is who, to print names rather than ids.
struct Seeded {
  std::map<std::int64_t, std::string> users;
  std::map<std::int64_t, std::string> groups;
};

void say(const std::string& who, const std::string& s) {
  std::cout << "[" << who << "] " << s << std::endl;
}

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  if (!in || !std::getline(in, line)) throw std::runtime_error("cannot read " + p.string());
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw std::runtime_error(p.string() + ": the first line (the password) is empty");
  return line;
}

// Written aside and renamed: a reader never sees half a file.
void write_atomically(const fs::path& p, const std::string& content) {
  const fs::path tmp = p.string() + ".tmp";
  std::ofstream(tmp) << content;
  fs::rename(tmp, p);
}

Seeded seed(OmeroWebStandin& web, const std::string& admin_password) {
  const auto root = web.add_user("root", admin_password, true, {demo_group_id});
  const auto alice = web.add_user("alice", "alice-demo-pw", false, {demo_group_id});
  const auto lab = web.add_group("Demo");
  if (alice != demo_user_id || lab != demo_group_id) throw std::logic_error("the stand-in numbered its seeds anew");
  return {{{root, "root"}, {alice, "alice"}}, {{lab, "Demo"}}};
}

std::string name_of(const std::map<std::int64_t, std::string>& names, std::int64_t id) {
  const auto it = names.find(id);
  return it == names.end() ? "#" + std::to_string(id) : it->second;
}

void render_annotations(std::ostream& out, const OmeroWebStandin& web, const Seeded& who, const std::string& type,
                        std::int64_t id, const std::string& indent) {
  for (const auto& a : web.annotations_on(type, id)) {
    if (a.kind == "file") {
      out << indent << "file " << a.file_name << " (ns " << a.ns << ", owner " << name_of(who.users, a.owner) << ")\n";
      continue;
    }
    out << indent << a.ns << " (owner " << name_of(who.users, a.owner) << ")\n";
    for (const auto& [k, v] : a.values) out << indent << "    " << k << " = " << v << "\n";
  }
}

std::string render(const OmeroWebStandin& web, const Seeded& who) {
  std::ostringstream out;
  const auto datasets = web.objects("dataset");
  if (datasets.empty()) out << "(no datasets yet)\n";
  const auto images = web.objects("image");
  for (const auto& d : datasets) {
    out << "Dataset " << d.id << " \"" << d.name << "\", owner " << name_of(who.users, d.owner) << ", group "
        << name_of(who.groups, d.group) << "\n";
    if (!d.description.empty()) out << "  description: " << d.description << "\n";
    render_annotations(out, web, who, "dataset", d.id, "  ");
    for (const auto& i : images) {
      if (i.parent != d.id) continue;
      out << "  Image " << i.id << " \"" << i.name << "\"\n";
      render_annotations(out, web, who, "image", i.id, "    ");
    }
  }
  return out.str();
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::runtime_error(a + " needs a value (or is unknown)");
    const std::string v = argv[++i];
    if (a == "--admin-password-file")
      o.password_file = v;
    else if (a == "--port")
      o.port = static_cast<unsigned short>(std::stoul(v));
    else if (a == "--url-file")
      o.url_file = v;
    else if (a == "--dump")
      o.dump_file = v;
    else if (a == "--importer-db")
      o.importer_db = v;
    else
      throw std::runtime_error("unknown option " + a);
  }
  if (o.password_file.empty()) throw std::runtime_error("--admin-password-file is required");
  return o;
}

// Until SIGINT/SIGTERM (blocked in every thread, taken here): the dump kept current.
void serve(const Options& o, const OmeroWebStandin& web, const Seeded& who, const sigset_t& stop) {
  std::string shown;
  const timespec poll{0, 200'000'000};
  do {
    if (o.dump_file.empty()) continue;
    std::string now = render(web, who);
    if (now != shown) write_atomically(o.dump_file, now);
    shown = std::move(now);
  } while (sigtimedwait(&stop, nullptr, &poll) < 0);
}

int run(const Options& o) {
  // Blocked before any thread starts, so only sigtimedwait in serve() receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  OmeroWebStandin::Options options;
  options.port = o.port;
  OmeroWebStandin web(options);
  const Seeded who = seed(web, first_line(o.password_file));
  say("omero-web-standin", "OMERO.web at " + web.url() + ": administrator root, user alice (id " +
                               std::to_string(demo_user_id) + ") in group Demo (id " + std::to_string(demo_group_id) +
                               ")");
  std::optional<StandinImporter> importer;
  if (!o.importer_db.empty()) {
    importer.emplace(o.importer_db, web, demo_user_id, [](const std::string& s) { say("standin-importer", s); });
  }
  if (!o.url_file.empty()) write_atomically(o.url_file, web.url() + "\n");
  serve(o, web, who, stop);
  say("omero-web-standin", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "omero-web-standin: " << e.what() << "\n";
    return 1;
  }
}
