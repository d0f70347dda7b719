#include "cache/node_group.h"

#include <unistd.h>

#include <exception>

#include "util/error.h"

namespace hs {

void together(NodeGroup& g, const std::string& what, const std::function<void()>& step) {
  std::exception_ptr mine;
  try {
    step();
  } catch (...) {
    mine = std::current_exception();
  }
  const bool all = g.all_ok(!mine);
  if (mine) std::rethrow_exception(mine);
  HS_CHECK(all, "another rank of node '", g.name(), "' failed while ", what,
           " (its own message says why); this rank stops too");
}

std::string LoneGroup::name() const {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace hs
