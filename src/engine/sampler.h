// Token choice (greedy, temperature / top-k / top-p with a counter-based RNG). Its definition
// lives with the cpu backend (backend/cpu/sampling.h), because Backend::sample implements it
// there and a backend may not depend on the engine; engines and the runner include it here.
#pragma once

#include "backend/cpu/sampling.h"
