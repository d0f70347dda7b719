#include "backend/backend.h"

#include "util/error.h"

namespace hs {

std::vector<std::string> available_backends() {
#ifdef HS_HAVE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, int) {
  fail("backend '", name, "' is not available yet");
}

}  // namespace hs
