// Named model shapes: the published hyper-parameters of well-known models, so benchmarks and
// `hybridserve plan` can run without downloading anything (dummy_weights() fills them in).
#pragma once

#include <string>
#include <vector>

#include "model/config.h"

namespace hs {

// The config of a named shape, e.g. "opt-13b" or "llama-3-8b", exactly as load_model_config()
// would read it from the model's Hugging Face config.json. Unknown name: hs::Error listing the
// names.
ModelConfig model_shape(const std::string& name);

// Every name model_shape() accepts, smallest model of each family first.
std::vector<std::string> model_shape_names();

}  // namespace hs
