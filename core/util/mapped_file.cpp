#include "core/util/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "core/util/error.h"

namespace tb {
namespace {

// The handler's registry: fixed, so the handler reads it without locks or allocation. A slot is
// claimed through `used`; `begin`/`end` are published after the mapping exists and cleared
// before it goes.
struct Slot {
  std::atomic<bool> used{false};
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<bool> truncated{false};
};
constexpr int kSlots = 16384;  // 1 TiB of 64 MiB shards open at once
std::array<Slot, kSlots> g_slots;
struct sigaction g_previous {};
std::once_flag g_install_once;

void on_sigbus(int signal, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const bool fault = info->si_code > 0;  // not sent by kill() or raise(): si_addr is meaningful
  for (auto& slot : g_slots) {
    if (!fault) break;
    const std::uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    if (begin == 0 || address < begin || address >= slot.end.load(std::memory_order_acquire)) {
      continue;
    }
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    void* at = reinterpret_cast<void*>(address & ~(page - 1));
    if (::mmap(at, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
      slot.truncated.store(true, std::memory_order_release);
      return;  // the faulting read runs again, on zeros
    }
    break;
  }
  // Not ours (or the zero page could not be put in place): what would have happened without us.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) return g_previous.sa_sigaction(signal, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(signal);
  }
  ::signal(SIGBUS, SIG_DFL);
  // Returning re-runs a faulting access, which now gets the default action; a sent signal is
  // sent again.
  if (!fault) ::raise(signal);
}

void install_handler() {
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &g_previous);
}

int claim_slot() {
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (g_slots[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      return i;
    }
  }
  return -1;
}

}  // namespace

MappedFile MappedFile::open(const std::filesystem::path& path) {
  std::call_once(g_install_once, install_handler);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FormatError(path.string() + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    throw FormatError(path.string() + ": cannot stat (" + std::strerror(error) + ")");
  }
  MappedFile file;
  file.size_ = static_cast<std::uint64_t>(st.st_size);
  if (file.size_ == 0) {
    ::close(fd);
    return file;
  }
  void* data = ::mmap(nullptr, file.size_, PROT_READ, MAP_SHARED, fd, 0);
  const int error = errno;
  ::close(fd);  // the mapping keeps the file
  if (data == MAP_FAILED) {
    throw FormatError(path.string() + ": cannot map " + std::to_string(file.size_) + " bytes (" +
                      std::strerror(error) + ")");
  }
  file.data_ = static_cast<const std::byte*>(data);
  file.slot_ = claim_slot();
  if (file.slot_ < 0) {
    ::munmap(data, file.size_);
    throw FormatError(path.string() + ": more than " + std::to_string(kSlots) +
                      " files mapped at once (close some readers)");
  }
  auto& slot = g_slots[file.slot_];
  slot.truncated.store(false, std::memory_order_relaxed);
  slot.end.store(reinterpret_cast<std::uintptr_t>(data) + file.size_, std::memory_order_release);
  slot.begin.store(reinterpret_cast<std::uintptr_t>(data), std::memory_order_release);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_), size_(other.size_), slot_(other.slot_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.slot_ = -1;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    slot_ = other.slot_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.slot_ = -1;
  }
  return *this;
}

MappedFile::~MappedFile() {
  release();
}

bool MappedFile::truncated() const noexcept {
  return slot_ >= 0 && g_slots[slot_].truncated.load(std::memory_order_acquire);
}

void MappedFile::release() noexcept {
  if (slot_ >= 0) {
    auto& slot = g_slots[slot_];
    slot.begin.store(0, std::memory_order_release);
    slot.end.store(0, std::memory_order_release);
    slot.used.store(false, std::memory_order_release);
    slot_ = -1;
  }
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace tb
