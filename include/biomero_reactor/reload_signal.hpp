#pragma once
// SIGHUP: the conventional "reload your configuration" signal, which operators and
// logrotate send without a second thought. Its default action ends the process (silently,
// with a status systemd's Restart=on-failure does not restart), so the daemon handles it:
// one log line, "SIGHUP: reloading group mappings", then the reload hook if one is set.
//
// The signal handler only writes a byte to a pipe; a thread of its own reads the pipe and
// does the logging and the hook, so nothing runs in signal context and no event loop has
// to be running for SIGHUP to be harmless (during `check`, migrations, startup).
#include <functional>

namespace biomero_reactor {

// Installs the handler and starts its thread. Call once at process start, before other
// threads; later calls do nothing. Throws std::system_error when the pipe, the handler or
// the thread cannot be had.
void install_reload_signal();

// What a SIGHUP does after its log line: reload the group mappings, say. Runs on the
// signal thread, never concurrently with itself: post to the owner's event loop from it
// (asio::post(io, ...)). An empty function (the default) does nothing more. Thread-safe.
void set_reload_hook(std::function<void()> hook);

}  // namespace biomero_reactor
