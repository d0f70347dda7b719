#include "runner/job/interrupt.h"

#include <csignal>

namespace hs {
namespace {

volatile std::sig_atomic_t g_count = 0;
volatile std::sig_atomic_t g_last = 0;
constexpr int kSignals[] = {SIGTERM, SIGINT, SIGUSR1};
struct sigaction g_previous[3];

void on_signal(int sig) {
  g_count = g_count + 1;
  g_last = sig;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_count = 0;
  g_last = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a signal must not turn a write() or fsync() into an error
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &g_previous[i]);
}

InterruptGuard::~InterruptGuard() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
}

int InterruptGuard::count() {
  return g_count;
}
int InterruptGuard::last_signal() {
  return g_last;
}

}  // namespace hs
