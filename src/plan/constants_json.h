// Cost constants as JSON: what `bench --json` prints under "constants" (and `plan --json`),
// and what `plan --constants FILE` reads back, so that a plan made on any machine can use the
// constants measured on the GPU it is for.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "plan/plan.h"

namespace hs {

nlohmann::json constants_to_json(const CostConstants& k);
// Reads constants from a JSON file: the constants object itself, or an object holding one
// under "constants" (the output of `bench --json`). Every rate must be a positive number and
// every GEMM curve well formed (k, n > 0; rows ascending and positive, one time each); keys
// left out keep their defaults. Throws hs::Error naming the file and the key.
CostConstants constants_from_json_file(const std::string& file);

}  // namespace hs
