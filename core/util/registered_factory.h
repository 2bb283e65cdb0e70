// One factory that the GPU half of the program registers at start-up and core asks for later.
// core/ cannot link against gpu/, so gpu/ fills these slots from its registration hooks; the lock
// keeps a registration racing a first use (static initialisation of a test binary, say) safe.
#pragma once

#include <mutex>
#include <utility>

namespace tb {

template <typename Factory>
class RegisteredFactory {
 public:
  void set(Factory factory) {
    const std::lock_guard lock(mutex_);
    factory_ = std::move(factory);
  }

  // A copy, so the caller runs it without holding the lock; empty when nothing registered.
  Factory get() const {
    const std::lock_guard lock(mutex_);
    return factory_;
  }

 private:
  mutable std::mutex mutex_;
  Factory factory_{};
};

}  // namespace tb
