// The messages between the coordinator (rank 0's main thread) and the ranks' workers. Each kind
// doubles as the MPI tag when it crosses processes.
//
//   coordinator -> worker: start (go ahead: build the engine), unit (WorkUnit), stop (no more
//                          work: leave)
//   worker -> coordinator: hello (engine ready, hardware JSON; also asks for the first unit),
//                          result (UnitResult; also asks for the next unit),
//                          failed (the rank cannot go on: error text; its unit is handed to
//                          another rank)
#pragma once

#include <string>

namespace hs {

enum class MsgKind : int { start = 1, hello = 2, unit = 3, result = 4, failed = 5, stop = 6 };
const char* msg_kind_name(MsgKind k);

struct Message {
  int rank = 0;  // the worker's rank (sender or receiver, seen from the coordinator)
  MsgKind kind = MsgKind::stop;
  std::string payload;
};

}  // namespace hs
