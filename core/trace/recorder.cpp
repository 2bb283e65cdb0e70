#include "core/trace/recorder.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "core/ds/hash_map.h"

namespace tb::trace {

struct Recorder::ThreadBuffer {
  std::thread::id owner;
  std::uint32_t thread = 0;
  std::string name;  // guarded by the recorder's registry mutex
  // Writer side (the owning thread only).
  Block* tail = nullptr;
  std::uint32_t fill = 0;
  Block* spare = nullptr;  // recycled blocks taken from `recycled`, linked through next
  // Drainer side (under the registry mutex): the oldest block not yet recycled.
  Block* head = nullptr;
  // Drained blocks handed back to the writer, so that a long run reuses a few warm blocks
  // instead of faulting in fresh pages: the drainer pushes, the writer takes the whole list.
  std::atomic<Block*> recycled{nullptr};

  ~ThreadBuffer() {
    for (Block* list : {head, spare, recycled.load()}) {
      for (Block* block = list; block != nullptr;) {
        Block* next = block->next.load(std::memory_order_acquire);
        delete block;
        block = next;
      }
    }
  }

  Block* fresh_block() {
    if (spare == nullptr) spare = recycled.exchange(nullptr, std::memory_order_acquire);
    if (spare == nullptr) return new Block;
    Block* block = spare;
    spare = block->next.load(std::memory_order_relaxed);
    block->next.store(nullptr, std::memory_order_relaxed);
    block->published.store(0, std::memory_order_relaxed);
    block->consumed = 0;
    return block;
  }

  void recycle(Block* block) {
    Block* top = recycled.load(std::memory_order_relaxed);
    do {
      block->next.store(top, std::memory_order_relaxed);
    } while (!recycled.compare_exchange_weak(top, block, std::memory_order_release,
                                             std::memory_order_relaxed));
  }
};

namespace {
std::atomic<std::uint64_t> next_recorder_id{1};
}  // namespace

Recorder::Recorder() : id_(next_recorder_id++) {}
Recorder::~Recorder() = default;

void Recorder::register_this_thread() {
  std::lock_guard lock(registry_mutex_);
  // A thread that alternates between recorders finds its buffer again here.
  const auto owner = std::this_thread::get_id();
  ThreadBuffer* found = nullptr;
  for (auto& existing : buffers_) {
    if (existing->owner == owner) found = existing.get();
  }
  if (found == nullptr) {
    auto buffer = std::make_unique<ThreadBuffer>();
    buffer->owner = owner;
    buffer->thread = static_cast<std::uint32_t>(buffers_.size());
    buffer->tail = buffer->head = new Block;
    buffers_.push_back(std::move(buffer));
    found = buffers_.back().get();
  }
  detail::recorder_cache = {id_, &found->tail, &found->fill, found};
}

void Recorder::next_block() {
  ThreadBuffer& buffer = *static_cast<ThreadBuffer*>(detail::recorder_cache.buffer);
  Block* fresh = buffer.fresh_block();
  buffer.tail->next.store(fresh, std::memory_order_release);
  buffer.tail = fresh;
  buffer.fill = 0;
}

void Recorder::name_this_thread(std::string name) {
  if (detail::recorder_cache.recorder_id != id_) register_this_thread();
  ThreadBuffer& buffer = *static_cast<ThreadBuffer*>(detail::recorder_cache.buffer);
  const std::lock_guard lock(registry_mutex_);
  buffer.name = std::move(name);
}

std::string Recorder::track_name(std::uint32_t thread) {
  const std::lock_guard lock(registry_mutex_);
  if (thread < buffers_.size() && !buffers_[thread]->name.empty()) return buffers_[thread]->name;
  return "engine";
}

std::vector<RecordedSpan> Recorder::drain() {
  std::vector<RecordedSpan> all;
  {
    std::lock_guard lock(registry_mutex_);
    for (auto& buffer : buffers_) {
      Block* block = buffer->head;
      while (true) {
        const std::uint32_t published = block->published.load(std::memory_order_acquire);
        const std::size_t first = all.size();
        all.insert(all.end(), block->events + block->consumed, block->events + published);
        for (std::size_t i = first; i < all.size(); ++i) all[i].thread = buffer->thread;
        block->consumed = published;
        Block* next = block->next.load(std::memory_order_acquire);
        // A block with a successor is full and abandoned by its writer: hand it back. Its count
        // was read above, after which the writer wrote no more into it.
        if (next == nullptr || published != kEventsPerBlock) break;
        buffer->recycle(block);
        block = next;
      }
      buffer->head = block;
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const RecordedSpan& a, const RecordedSpan& b) {
    return a.start_ns < b.start_ns;
  });
  return all;
}

std::size_t Recorder::drain_into(Trace& batch) {
  const auto events = drain();
  // Thread index -> track, name pointer -> id: strings are hashed once per distinct pointer.
  std::vector<TrackId> tracks;
  ds::FlatHashMap<const void*, NameId> names;
  ds::FlatHashMap<const void*, CounterId> counters;
  for (const auto& event : events) {
    if (event.counter) {
      auto found = counters.find(event.name);
      if (found == counters.end()) {
        const std::string_view name(event.name);
        const auto existing = batch.find_counter(name);
        const CounterId id =
            existing
                ? *existing
                : batch.add_counter(std::string(name), name.starts_with("memory") ? "bytes" : "");
        found = counters.try_emplace(event.name, id).first;
      }
      batch.add_counter_point(found->second, event.start_ns, event.value);
      continue;
    }
    if (event.thread >= tracks.size()) tracks.resize(event.thread + 1);
    if (!tracks[event.thread].valid()) {
      const std::string name = track_name(event.thread);
      const auto kind =
          name.starts_with("loader worker") ? TrackKind::loader_worker : TrackKind::cpu_thread;
      tracks[event.thread] = batch.track_named(name, kind, "trainbench");
    }
    auto name = names.find(event.name);
    if (name == names.end()) name = names.try_emplace(event.name, batch.intern(event.name)).first;
    Span span;
    span.start_ns = event.start_ns;
    span.end_ns = event.end_ns;
    span.step = event.step;
    span.track = tracks[event.thread];
    span.name = name->second;
    span.category = event.category;
    batch.add_span(span);
  }
  return events.size();
}

}  // namespace tb::trace
