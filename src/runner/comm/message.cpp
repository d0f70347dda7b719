#include "runner/comm/message.h"

namespace hs {

const char* msg_kind_name(MsgKind k) {
  switch (k) {
    case MsgKind::start:
      return "start";
    case MsgKind::hello:
      return "hello";
    case MsgKind::unit:
      return "unit";
    case MsgKind::result:
      return "result";
    case MsgKind::failed:
      return "failed";
    case MsgKind::stop:
      return "stop";
  }
  return "?";
}

}  // namespace hs
