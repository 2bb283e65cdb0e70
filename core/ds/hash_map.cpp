// Table memory for FlatHashMap: large tables ask Linux for transparent huge pages.
#include "core/ds/hash_map.h"

#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tb::ds::hash_detail {

namespace {

constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

bool wants_huge_pages(std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  return bytes >= kHugeTableBytes;
#else
  (void)bytes;
  return false;
#endif
}

}  // namespace

void* allocate_table(std::size_t bytes, std::size_t alignment) {
  if (!wants_huge_pages(bytes)) return ::operator new (bytes, std::align_val_t{alignment});
  // Random lookups in a table much larger than the TLB's reach miss the TLB on nearly every
  // access, and in a table this large the page-table entries miss the caches too; 2 MiB pages
  // make those walks go away (measured: 1.2-1.4x faster hits on 16M u64 entries). The hint must
  // come before the first touch, and only whole, aligned huge pages can be backed by one, hence
  // the rounding. A kernel without THP, or with no huge page free, keeps using small pages.
  const std::size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* block = ::operator new (rounded, std::align_val_t{kHugePageBytes});
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  (void)madvise(block, rounded, MADV_HUGEPAGE);
#endif
  return block;
}

void free_table(void* block, std::size_t bytes, std::size_t alignment) noexcept {
  if (wants_huge_pages(bytes)) {
    ::operator delete (block, std::align_val_t{kHugePageBytes});
  } else {
    ::operator delete (block, std::align_val_t{alignment});
  }
}

}  // namespace tb::ds::hash_detail
