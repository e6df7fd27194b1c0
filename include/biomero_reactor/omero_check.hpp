// `biomero-reactor omero-check`: what an operator runs once per OMERO or OMERO.web
// upgrade to confirm, against the real deployment, every assumption the stand-in
// tests cannot: the URL and server id, the administrator's login through Django's CSRF
// and Referer checks, su to a named user, creating a dataset as that user, writing a
// map annotation and reading it back owned by them, deleting both, logging out. Each
// step prints one line; the first failure stops the check with what to fix.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <ostream>
#include <string>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/omero_web.hpp"

namespace biomero_reactor {

// True when every step passed. Never prints the password.
boost::asio::awaitable<bool> omero_check(OmeroWebSettings settings, std::string test_user, std::ostream& out);

// `biomero-reactor omero-check <test-user>` with the configured connection: the steps
// on stdout, exit 0 when all passed, 1 on the first failure, 78 when the config lacks
// omero.web.url or a password.
int omero_check_command(const Config& cfg, const std::string& test_user);

}  // namespace biomero_reactor
