// What the HDF5, NPY/NPZ and CSV tests share: records in memory as a RecordSource, reading a set
// back (one reader, then two readers in two threads), and checking a FormatError's message.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/data/record_set.h"
#include "core/data/shard_dataset.h"
#include "core/util/error.h"
#include "tests/support/record_source.h"

namespace tb::testing::arrays {

using tb::testing::TestRecord;
using tb::testing::VectorSource;

// `count` records of `spec`: random payloads (finite values for float dtypes), labels 0..classes-1,
// keys positions when `position_keys`, else distinct scattered values.
inline std::vector<TestRecord> make_records(const data::SampleSpec& spec, std::size_t count,
                                            std::uint32_t seed, bool position_keys = true,
                                            int classes = 10) {
  std::mt19937_64 rng(seed);
  std::vector<TestRecord> records(count);
  const std::size_t n = spec.numel();
  for (std::size_t i = 0; i < count; ++i) {
    auto& r = records[i];
    r.key = position_keys ? i : i * 7919 + 1000003 + (i % 3) * (1ull << 40);
    r.label = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(classes));
    r.payload.resize(spec.payload_bytes());
    for (std::size_t j = 0; j < n; ++j) {
      using data::shard::SampleDType;
      switch (spec.dtype) {
        case SampleDType::f32: {
          const float v = std::uniform_real_distribution<float>(-100.f, 100.f)(rng);
          std::memcpy(&r.payload[4 * j], &v, 4);
          break;
        }
        case SampleDType::f16:
        case SampleDType::bf16: {
          // Sign, a biased exponent well inside the finite range, any mantissa.
          std::uint16_t v = static_cast<std::uint16_t>(rng());
          v = spec.dtype == SampleDType::f16 ? static_cast<std::uint16_t>((v & 0x83ff) | 0x3c00)
                                             : static_cast<std::uint16_t>((v & 0x807f) | 0x3f80);
          std::memcpy(&r.payload[2 * j], &v, 2);
          break;
        }
        default: {
          const std::size_t w = data::shard::dtype_size(spec.dtype);
          for (std::size_t b = 0; b < w; ++b) r.payload[w * j + b] = std::byte(rng() & 0xff);
        }
      }
    }
  }
  return records;
}

// Every record read back in order from one reader, bit for bit.
inline void expect_records(const data::RecordSet& set, const std::vector<TestRecord>& records) {
  ASSERT_EQ(set.size(), records.size());
  auto reader = set.open_reader();
  for (std::size_t i = 0; i < records.size(); ++i) {
    const data::RecordRef r = reader->read(i);
    ASSERT_EQ(r.key, records[i].key) << "position " << i;
    ASSERT_EQ(r.label, records[i].label) << "position " << i;
    ASSERT_EQ(r.payload.size(), records[i].payload.size()) << "position " << i;
    ASSERT_EQ(std::memcmp(r.payload.data(), records[i].payload.data(), r.payload.size()), 0)
        << "position " << i;
  }
}

// Two readers, opened and used in two threads at once, each reading random positions.
inline void expect_records_in_two_threads(const data::RecordSet& set,
                                          const std::vector<TestRecord>& records,
                                          int reads_per_thread = 400) {
  std::atomic<int> mismatches{0};
  std::atomic<int> errors{0};
  auto work = [&](std::uint32_t seed) {
    try {
      auto reader = set.open_reader();
      std::mt19937 rng(seed);
      for (int k = 0; k < reads_per_thread; ++k) {
        const std::size_t i = rng() % records.size();
        const data::RecordRef r = reader->read(i);
        if (r.key != records[i].key || r.label != records[i].label ||
            r.payload.size() != records[i].payload.size() ||
            std::memcmp(r.payload.data(), records[i].payload.data(), r.payload.size()) != 0) {
          ++mismatches;
        }
      }
    } catch (const std::exception&) {
      ++errors;
    }
  };
  std::thread a(work, 1), b(work, 2);
  a.join();
  b.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

// `fn` throws tb::FormatError whose message holds every one of `parts`.
inline void expect_format_error(const std::function<void()>& fn,
                                std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no FormatError thrown";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message \"" << message << "\" lacks \"" << part << "\"";
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something other than FormatError: " << e.what();
  }
}

}  // namespace tb::testing::arrays
