#include "biomero_reactor/handoff_intake.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <cerrno>
#include <memory>
#include <set>
#include <system_error>

#include "biomero_reactor/channels.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/fs_util.hpp"
#include "biomero_reactor/import_task.hpp"
#include "biomero_reactor/job_store.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/wakeup.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

std::string read_limited(int fd, std::size_t limit) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "read");
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit) return out;
  }
}

std::string sha256_of(int fd) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "read");
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// Empty when the file is what the manifest says.
std::string check_file(const fs::path& dir, const HandoffFile& f, std::string_view what) {
  try {
    const UniqueFd fd = open_source_file(dir / f.name, what);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return std::string(what) + ": cannot stat";
    if (st.st_nlink != 1) return std::string(what) + " " + f.name + " has more than one link";
    if (static_cast<std::uint64_t>(st.st_size) != f.bytes) {
      return std::string(what) + " " + f.name + " is " + std::to_string(st.st_size) + " bytes, the manifest says " +
             std::to_string(f.bytes);
    }
    if (sha256_of(fd.get()) != f.sha256) return std::string(what) + " " + f.name + ": sha256 differs from the manifest";
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

std::string now_utc() {
  char buf[40];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Runs f on the worker pool; the calling coroutine waits without blocking the event loop.
template <class F>
asio::awaitable<std::invoke_result_t<F>> blocking(asio::thread_pool& workers, const F& f) {
  using R = std::invoke_result_t<F>;
  auto ex = co_await asio::this_coro::executor;
  auto done = std::make_shared<bool>(false);
  Wakeup wake(ex);
  std::optional<R> result;
  std::exception_ptr error;
  asio::post(workers, [&, ex, done] {
    try {
      result.emplace(f());
    } catch (...) {
      error = std::current_exception();
    }
    asio::post(ex, [&, done] {
      *done = true;
      wake.notify();
    });
  });
  while (!*done) co_await wake.wait_for(std::chrono::seconds(1));
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

// result.json, atomically: a tmp name in the same directory, fsynced, renamed.
void write_result_file(const fs::path& dir, const std::string& content) {
  const fs::path tmp = dir / (".result.json.tmp-" + random_uuid4().hex().substr(0, 8));
  write_file_durable(tmp, content);
  if (::rename(tmp.c_str(), (dir / "result.json").c_str()) != 0) {
    const int err = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    throw_system_error(err, "rename", dir / "result.json");
  }
  fsync_path(dir);
}

struct Finished {
  std::int64_t id = 0, attempt = 1, result_age_s = 0;
  Uuid handoff_id, workflow_id;
  std::string dir, state, error, job_dir, job_id, manifest;
  bool result_written = false, verdict_done = false, in_event_store = true;
};

asio::awaitable<void> append_verdict(pg::Pool& events, const Finished& f) {
  co_await in_transaction(events, [&](pg::Connection& c) -> asio::awaitable<void> {
    const ImportTask task = import_task_for(f.workflow_id, f.job_id, static_cast<int>(f.attempt), f.handoff_id);
    // A standalone handoff: BIOMERO has no such workflow, so there is nothing to end.
    const bool tracked = f.in_event_store;
    if (!tracked) {
      co_await c.query("UPDATE biomero_reactor.jobs SET handoff_verdict_at = clock_timestamp() WHERE id = $1",
                       pg::params(f.id));
      co_return;
    }
    auto step5 =
        co_await c.query("SELECT coalesce(max(id), 0) FROM public.workflowtracker_events WHERE originator_id = $1",
                         pg::params(task.id.str()));
    auto t = co_await c.query(
        "SELECT e.id, e.topic, coalesce(convert_from(e.state, 'UTF8')::jsonb->>'error_message', '') "
        "FROM public.workflowtracker_events e WHERE e.originator_id = $1 AND e.topic IN ($2, $3) "
        "AND NOT EXISTS (SELECT 1 FROM biomero_reactor.verdict_events v WHERE v.event_id = e.id) "
        "ORDER BY e.id DESC LIMIT 1",
        pg::params(f.workflow_id.str(), std::string(topics::workflow_completed), std::string(topics::workflow_failed)));
    if (t.rows() == 0) co_return;  // the workflow has not ended yet: look again later
    const Verdict v = handoff_verdict(f.state == "imported", f.error, t.text(0, 1) == topics::workflow_completed,
                                      t.text(0, 2), t.int64(0, 0) < step5.int64(0, 0));
    if (v.kind != Verdict::none) {
      const bool done = v.kind == Verdict::completed;
      boost::json::object state;
      if (!done) state["error_message"] = v.error_message;
      std::vector<NewEvent> verdict;
      verdict.push_back(
          {f.workflow_id, std::string(done ? topics::workflow_completed : topics::workflow_failed), std::move(state)});
      co_await append_events(c, verdict);
      co_await c.query(
          "INSERT INTO biomero_reactor.verdict_events (event_id, job_id) SELECT max(id), $2 "
          "FROM public.workflowtracker_events WHERE originator_id = $1",
          pg::params(f.workflow_id.str(), f.id));
      Projections p;
      co_await refresh_projections(c, p);
      if (p.progress_view) {
        const std::string sql =
            done ? "UPDATE public.biomero_workflow_progress_view SET status = 'DONE', progress = '100%' "
                   "WHERE workflow_id = $1"
                 : "UPDATE public.biomero_workflow_progress_view SET status = 'FAILED' WHERE workflow_id = $1";
        co_await c.query(sql, pg::params(f.workflow_id.str()));
      }
      log::info("verdict appended", {{"workflow_id", f.workflow_id.str()},
                                     {"handoff_id", f.handoff_id.str()},
                                     {"event", std::string(done ? "WorkflowCompleted" : "WorkflowFailed")}});
    }
    co_await c.query("UPDATE biomero_reactor.jobs SET handoff_verdict_at = clock_timestamp() WHERE id = $1",
                     pg::params(f.id));
  });
}

std::string result_message(const Finished& f, bool omero_connected) {
  std::string msg = f.state == "imported" ? "biomero-reactor imported the results of SLURM job " + f.job_id
                                          : "Import failed: " + f.error;
  try {
    for (const auto& note :
         unhonoured_options(boost::json::parse(f.manifest).as_object().at("inputs").as_object(), omero_connected))
      msg += "\n" + note;
  } catch (const std::exception&) {
  }
  return msg;
}

}  // namespace

InspectedHandoff inspect_handoff(const fs::path& dir) {
  InspectedHandoff h;
  h.dir = dir;
  h.name = dir.filename().string();
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    h.reason = "ready/" + h.name + " is not a directory";
    return h;
  }
  try {
    const UniqueFd fd = open_source_file(dir / "manifest.json", "handoff manifest");
    h.manifest_json = read_limited(fd.get(), max_manifest_bytes);
    HandoffManifest m = parse_manifest(h.manifest_json, h.name);
    h.reason = check_file(dir, m.zip, "results zip");
    if (h.reason.empty() && m.log) h.reason = check_file(dir, *m.log, "SLURM log");
    if (h.reason.empty()) h.manifest = std::move(m);
  } catch (const std::exception& e) {
    h.reason = e.what();
  }
  return h;
}

void reject_handoff(const fs::path& spool, const fs::path& dir, const std::string& reason) {
  const fs::path rejected = spool / "rejected";
  fs::create_directories(rejected);
  fs::path target = rejected / dir.filename();
  for (int i = 1; fs::exists(fs::symlink_status(target)); ++i) {
    target = rejected / (dir.filename().string() + "." + std::to_string(i));
  }
  if (::rename(dir.c_str(), target.c_str()) != 0) throw_system_error(errno, "rename", target);
  write_file_durable(target.string() + ".reason", reason + "\n");
  fsync_path(rejected);
}

asio::awaitable<HandoffScanStats> scan_spool(pg::Pool& events, const Config& cfg, asio::thread_pool& workers) {
  HandoffScanStats stats;
  const fs::path ready = cfg.handoff.spool / "ready";
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ready, ec)) {
    const std::string name = e.path().filename().string();
    if (!is_handoff_dir_name(name)) continue;  // not a handoff: left alone
    if (fs::exists(fs::symlink_status(e.path() / "result.json"))) continue;
    names.push_back(name);
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    log::warn("cannot read the handoff spool", {{"path", ready.string()}, {"error", ec.message()}});
  }
  if (names.empty()) co_return stats;
  std::set<std::string> known;
  {
    auto c = co_await events.acquire();
    auto r = co_await c->query(
        "SELECT handoff_id::text FROM biomero_reactor.jobs WHERE handoff_id = ANY($1::uuid[]) "
        "UNION SELECT handoff_dir FROM biomero_reactor.handoff_rejections WHERE handoff_dir = ANY($1::text[])",
        pg::params(pg::array_literal(names)));
    for (int i = 0; i < r.rows(); ++i) known.insert(std::string(r.text(i, 0)));
  }
  for (const auto& name : names) {
    if (known.count(name) > 0) continue;
    ++stats.found;
    const fs::path dir = ready / name;
    const auto inspect = [&dir] { return inspect_handoff(dir); };
    InspectedHandoff h = co_await blocking(workers, inspect);
    std::string reason = h.reason;
    if (h.manifest) {
      const auto& m = *h.manifest;
      std::string detail = "handoff " + m.handoff_id.str() + " (spool " + dir.string() + ")";
      const auto notes = unhonoured_options(m.inputs, !cfg.omero.web.url.empty());
      for (const auto& n : notes) detail += "; " + n;
      const JobStore::HandoffRow row{m.handoff_id, m.workflow_id, m.job_id,        m.group_name,
                                     m.user_name,  dir.string(),  h.manifest_json, detail};
      std::string conflict;
      std::optional<std::int64_t> id;
      co_await in_transaction(events, [&](pg::Connection& c) -> asio::awaitable<void> {
        conflict.clear();
        id = co_await JobStore::insert_handoff_job(c, row, &conflict);
        if (id) co_await c.query("SELECT pg_notify($1, '')", pg::params(std::string(channels::jobs)));
      });
      if (id) {
        ++stats.created;
        log::info("handoff job created", {{"handoff_id", name},
                                          {"workflow_id", m.workflow_id.str()},
                                          {"job_id", m.job_id},
                                          {"group", m.group_name},
                                          {"user", m.user_name}});
        for (const auto& n : notes)
          log::warn("handoff output option not honoured", {{"handoff_id", name}, {"option", n}});
        continue;
      }
      if (conflict.empty()) continue;  // created by another reactor meanwhile
      reason = conflict;
    }
    ++stats.rejected;
    log::warn("handoff rejected", {{"handoff_id", name}, {"reason", reason}});
    try {
      const auto reject = [&] {
        reject_handoff(cfg.handoff.spool, dir, reason);
        return 0;
      };
      co_await blocking(workers, reject);
    } catch (const std::exception& e) {
      log::warn("cannot move a rejected handoff to rejected/", {{"handoff_id", name}, {"error", e.what()}});
    }
    auto c = co_await events.acquire();
    co_await c->query(
        "INSERT INTO biomero_reactor.handoff_rejections (handoff_dir, reason) VALUES ($1, $2) "
        "ON CONFLICT (handoff_dir) DO UPDATE SET reason = EXCLUDED.reason, rejected_at = now()",
        pg::params(name, reason));
  }
  co_return stats;
}

asio::awaitable<std::int64_t> handoff_results_pending(pg::Pool& events) {
  auto c = co_await events.acquire();
  auto r = co_await c->query(
      "SELECT count(*) FROM biomero_reactor.jobs WHERE handoff_id IS NOT NULL AND handoff_cleaned_at IS NULL "
      " AND state IN ('imported', 'failed') AND NOT coalesce(handoff_result_at >= finished_at, false)");
  co_return r.int64(0, 0);
}

asio::awaitable<void> finish_handoffs(pg::Pool& events, const Config& cfg) {
  std::vector<Finished> rows;
  {
    auto c = co_await events.acquire();
    auto r = co_await c->query(
        "SELECT id, attempt, coalesce(extract(epoch FROM now() - handoff_result_at), 0)::bigint, handoff_id, "
        " workflow_id, handoff_dir, state, coalesce(error, ''), coalesce(job_dir, ''), slurm_job_id, "
        " handoff_manifest::text, coalesce(handoff_result_at >= finished_at, false), "
        " coalesce(handoff_verdict_at >= finished_at, false), "
        " EXISTS (SELECT 1 FROM public.workflowtracker_events e WHERE e.originator_id = j.workflow_id) "
        "FROM biomero_reactor.jobs j WHERE handoff_id IS NOT NULL AND handoff_cleaned_at IS NULL "
        " AND state IN ('imported', 'failed') ORDER BY id");
    for (int i = 0; i < r.rows(); ++i) {
      Finished f;
      f.id = r.int64(i, 0);
      f.attempt = r.int64(i, 1);
      f.result_age_s = r.int64(i, 2);
      f.handoff_id = *Uuid::parse(r.text(i, 3));
      f.workflow_id = *Uuid::parse(r.text(i, 4));
      f.dir = r.text(i, 5);
      f.state = r.text(i, 6);
      f.error = r.text(i, 7);
      f.job_dir = r.text(i, 8);
      f.job_id = r.text(i, 9);
      f.manifest = r.text(i, 10);
      f.result_written = r.boolean(i, 11);
      f.verdict_done = r.boolean(i, 12);
      f.in_event_store = r.boolean(i, 13);
      rows.push_back(std::move(f));
    }
  }
  for (const auto& f : rows) {
    try {
      if (!f.verdict_done) co_await append_verdict(events, f);
      std::error_code ec;
      const bool archived = !f.job_dir.empty() && fs::is_directory(f.job_dir, ec);
      const double keep = std::chrono::duration<double>(cfg.handoff.result_keep).count();
      const auto action = handoff_cleanup(true, f.result_written, static_cast<double>(f.result_age_s), keep, archived);
      auto c = co_await events.acquire();
      if (action == HandoffCleanup::write_result) {
        const ImportTask task = import_task_for(f.workflow_id, f.job_id, static_cast<int>(f.attempt), f.handoff_id);
        if (fs::is_directory(f.dir, ec)) {
          write_result_file(f.dir, handoff_result_json(f.handoff_id, task.id, f.state == "imported",
                                                       result_message(f, !cfg.omero.web.url.empty()), now_utc()));
        }
        co_await c->query("UPDATE biomero_reactor.jobs SET handoff_result_at = clock_timestamp() WHERE id = $1",
                          pg::params(f.id));
        log::info("handoff result written", {{"handoff_id", f.handoff_id.str()}, {"state", f.state}});
      } else if (action == HandoffCleanup::remove) {
        fs::remove_all(f.dir, ec);
        if (ec) throw std::system_error(ec, "remove " + f.dir);
        co_await c->query("UPDATE biomero_reactor.jobs SET handoff_cleaned_at = now() WHERE id = $1", pg::params(f.id));
        log::info("handoff spool entry removed", {{"handoff_id", f.handoff_id.str()}, {"path", f.dir}});
      }
    } catch (const std::exception& e) {
      log::warn("finishing a handoff failed; will retry", {{"handoff_id", f.handoff_id.str()}, {"error", e.what()}});
    }
  }
}

}  // namespace biomero_reactor
