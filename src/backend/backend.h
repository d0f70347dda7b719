// The compute device behind one interface. Engine code talks to a Backend and never names one;
// `cpu` (fp32 reference, always built) and `cuda` implement it.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace hs {

class Backend;

// Backends this binary was built with ("cpu", and "cuda" when nvcc was found).
std::vector<std::string> available_backends();

// Creates a backend by name; throws hs::Error naming what is available otherwise.
std::unique_ptr<Backend> make_backend(const std::string& name, int device_index = 0);

}  // namespace hs
