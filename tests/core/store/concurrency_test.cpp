// Several connections on one file at once, as when the GUI reads while a run writes: WAL and the
// busy timeout must keep SQLITE_BUSY from ever reaching a caller.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "tests/support/test_data.h"

namespace tb::store {
namespace {

// Errors seen on other threads, reported on the test's thread.
class Errors {
 public:
  void add(const std::string& error) {
    std::lock_guard lock(mutex_);
    if (errors_.size() < 20) errors_.push_back(error);  // enough to diagnose, short to read
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mutex_);
    return errors_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> errors_;
};

TEST(StoreConcurrency, ReadersSeeWholeBatchesWhileARunWrites) {
  constexpr int kBatches = 200;
  constexpr int kBatchSize = 50;
  constexpr std::size_t kTotal = kBatches * kBatchSize;
  testing::TempDir dir;
  const auto path = dir / "sessions.db";
  SessionId id;
  {
    SessionStore setup(path);
    id = setup.create_session({"live", "{}", "rev", "host", 1});
  }

  Errors errors;
  std::atomic<bool> writer_done = false;
  std::latch readers_ready(2);
  std::atomic<int> reads_during_write = 0;

  auto reader = [&](SessionStore::Mode mode, std::size_t* final_count) {
    try {
      SessionStore store(path, mode);  // its own connection, as the GUI has
      readers_ready.count_down();
      std::size_t last = 0;
      for (;;) {
        const bool done = writer_done.load();
        const std::vector<MetricPoint> points = store.metrics(id, "loss");
        // Each batch is one transaction, so a reader sees whole batches only, never fewer
        // rows than before.
        if (points.size() < last) {
          errors.add("count went down from " + std::to_string(last) + " to " +
                     std::to_string(points.size()));
        }
        if (points.size() % kBatchSize != 0) {
          errors.add("saw a partial batch: " + std::to_string(points.size()));
        }
        for (std::size_t i = 0; i < points.size(); ++i) {
          if (points[i].step != static_cast<std::int64_t>(i)) {
            errors.add("step " + std::to_string(points[i].step) + " at " + std::to_string(i));
            break;
          }
        }
        last = points.size();
        if (done) break;  // this read started after the last commit
        if (last > 0 && last < kTotal) ++reads_during_write;
      }
      *final_count = last;
    } catch (const std::exception& error) {
      errors.add(std::string("reader threw: ") + error.what());
      readers_ready.count_down();
    }
  };

  std::size_t read_only_count = 0;
  std::size_t read_write_count = 0;
  std::thread read_only(reader, SessionStore::Mode::read_only, &read_only_count);
  std::thread read_write(reader, SessionStore::Mode::read_write, &read_write_count);
  std::thread writer([&] {
    try {
      SessionStore store(path);
      readers_ready.wait();
      MetricWriter metrics(store, id, kBatchSize);
      for (int step = 0; step < static_cast<int>(kTotal); ++step) {
        metrics.add("loss", step, step * 0.001, 1.0 / (1 + step));
        if (step % kBatchSize == 0) std::this_thread::yield();  // let the readers in
      }
      metrics.flush();
    } catch (const std::exception& error) {
      errors.add(std::string("writer threw: ") + error.what());
    }
    writer_done = true;
  });
  writer.join();
  read_only.join();
  read_write.join();

  EXPECT_EQ(errors.all(), std::vector<std::string>{});
  EXPECT_EQ(read_only_count, kTotal);
  EXPECT_EQ(read_write_count, kTotal);
  SessionStore check(path, SessionStore::Mode::read_only);
  EXPECT_EQ(check.metrics(id, "loss").size(), kTotal);
  // Not a correctness condition, but without overlap this test would prove nothing.
  EXPECT_GT(reads_during_write.load(), 0);
}

TEST(StoreConcurrency, TwoRunsWriteOneDatabaseAtOnce) {
  constexpr int kPoints = 5000;
  testing::TempDir dir;
  const auto path = dir / "sessions.db";
  { SessionStore create(path); }

  Errors errors;
  std::vector<SessionId> ids(2);
  auto run = [&](int index) {
    try {
      SessionStore store(path);
      ids[index] = store.create_session({"run" + std::to_string(index), "{}", "rev", "h", 1});
      MetricWriter metrics(store, ids[index], 37);
      for (int step = 0; step < kPoints; ++step) metrics.add("loss", step, 0.0, index);
      metrics.flush();
      trace::Trace batch;
      const auto engine =
          batch.add_track({"engine", trace::TrackKind::cpu_thread, "trainbench", 0});
      batch.add_span({0, 10, 0, engine, batch.intern("step"), {}, trace::Category::step});
      TraceWriter(store, ids[index]).append(batch);
      store.finish_session(ids[index], "completed", "{}");
    } catch (const std::exception& error) {
      errors.add(error.what());
    }
  };
  std::thread a(run, 0);
  std::thread b(run, 1);
  a.join();
  b.join();

  EXPECT_EQ(errors.all(), std::vector<std::string>{});
  SessionStore store(path, SessionStore::Mode::read_only);
  EXPECT_EQ(store.list_sessions().size(), 2u);
  for (int index = 0; index < 2; ++index) {
    const auto points = store.metrics(ids[index], "loss");
    ASSERT_EQ(points.size(), static_cast<std::size_t>(kPoints));
    EXPECT_EQ(points.back().value, index);  // no rows crossed sessions
    EXPECT_EQ(store.session(ids[index])->status, "completed");
  }
}

TEST(StoreConcurrency, SeveralOpenersOfANewFileMigrateItOnce) {
  testing::TempDir dir;
  const auto path = dir / "new.db";
  Errors errors;
  std::latch start(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        SessionStore store(path);
        if (store.schema_version() != SessionStore::kSchemaVersion) errors.add("wrong version");
        store.create_session({"s", "{}", "rev", "h", 1});
      } catch (const std::exception& error) {
        errors.add(error.what());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.all(), std::vector<std::string>{});
  SessionStore store(path, SessionStore::Mode::read_only);
  EXPECT_EQ(store.schema_version(), SessionStore::kSchemaVersion);
  EXPECT_EQ(store.list_sessions().size(), 4u);
}

}  // namespace
}  // namespace tb::store
